using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Server.Hosting;
using OpenWeights.Onnx.Server.Requests;
using OpenWeights.Onnx.Server.Responses;
using OpenWeights.Onnx.Server.Scheduling;

using OpenWeights.Onnx.Server.Metrics;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>POST /v1/chat/completions: the messages through the model's chat template, answered whole or streamed.</summary>
internal static class ChatCompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext http)
    {
        var options = http.RequestServices.GetRequiredService<ServerOptions>();
        var host = http.RequestServices.GetRequiredService<ModelHost>();
        ChatCompletionRequest request;
        using (var body = await RequestBody.ReadJsonAsync(http, options.MaxBodyBytes))
            request = ChatCompletionRequest.Parse(body.RootElement);

        var model = host.RequireReady();
        var adapter = model.Resolve(request.Parameters.Model);
        int[] prompt = model.EncodeChat(request.Messages);
        var generation = GenerationOptionsMapper.Map(request.Parameters, model.DefaultSampling, prompt.Length,
            model.MaxLength, defaultMaxTokens: int.MaxValue, promptParam: "messages");
        var handles = model.Submit(prompt, generation, request.Parameters.LogProbs, http.RequestAborted, adapter, request.Parameters.N);

        string id = ResponseIds.Chat();
        long created = ResponseIds.Now();
        var logProbs = request.Parameters.LogProbs ? new LogProbFormatter(model.Tokenizer) : null;
        if (request.Parameters.Stream)
        {
            await StreamAsync(http, handles, id, created, request.Parameters.Model, logProbs, request.Parameters.IncludeUsage);
            return;
        }
        var results = await SequenceCollector.CollectAllAsync(handles, http.RequestAborted);
        var usage = SequenceCollector.Usage(results);
        RequestLog.RecordTokens(http, usage.PromptTokens, usage.CompletionTokens);
        var completion = new ChatCompletion(id, created, request.Parameters.Model,
            results.Select((result, index) => new ChatChoice(index, new ChatResponseMessage("assistant", result.Text),
                logProbs?.Chat(result.Tokens), ResponseIds.FinishReason(result.Reason))).ToList(),
            usage);
        await http.Response.WriteAsJsonAsync(completion, ServerJson.Options, http.RequestAborted);
    }

    private static async Task StreamAsync(HttpContext http, IReadOnlyList<SequenceHandle> handles, string id, long created, string model,
        LogProbFormatter? logProbs, bool includeUsage)
    {
        var sse = new SseWriter(http.Response, http.RequestAborted);
        await sse.StartAsync();
        for (int index = 0; index < handles.Count; index++)
            sse.Write(new ChatCompletionChunk(id, created, model, [new ChatChunkChoice(index, new ChatDelta("assistant", ""), null, null)]));
        await sse.FlushAsync();

        await SequenceStreamer.PumpAsync(http, sse, handles, logProbs is not null,
            (index, t) =>
            {
                var lp = logProbs is not null && t.TokenId >= 0 ? new ChatLogProbs([logProbs.Chat(t)]) : null;
                sse.Write(new ChatCompletionChunk(id, created, model, [new ChatChunkChoice(index, new ChatDelta(Content: t.Text), lp, null)]));
            },
            (index, f) => sse.Write(new ChatCompletionChunk(id, created, model,
                [new ChatChunkChoice(index, new ChatDelta(), null, ResponseIds.FinishReason(f.Reason))])),
            finished =>
            {
                var usage = SequenceCollector.Usage(finished);
                RequestLog.RecordTokens(http, usage.PromptTokens, usage.CompletionTokens);
                if (includeUsage)
                    sse.Write(new ChatCompletionChunk(id, created, model, [], usage));
            });
    }
}
