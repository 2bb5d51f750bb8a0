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
        var handle = model.Submit(prompt, generation, request.Parameters.LogProbs, http.RequestAborted, adapter);

        string id = ResponseIds.Chat();
        long created = ResponseIds.Now();
        var logProbs = request.Parameters.LogProbs ? new LogProbFormatter(model.Tokenizer) : null;
        if (request.Parameters.Stream)
        {
            await StreamAsync(http, handle, id, created, request.Parameters.Model, logProbs, request.Parameters.IncludeUsage);
            return;
        }
        var result = await SequenceCollector.CollectAsync(handle, http.RequestAborted);
        RequestLog.RecordTokens(http, result.PromptTokens, result.CompletionTokens);
        var completion = new ChatCompletion(id, created, request.Parameters.Model,
            [new ChatChoice(0, new ChatResponseMessage("assistant", result.Text), logProbs?.Chat(result.Tokens),
                ResponseIds.FinishReason(result.Reason))],
            new Usage(result.PromptTokens, result.CompletionTokens));
        await http.Response.WriteAsJsonAsync(completion, ServerJson.Options, http.RequestAborted);
    }

    private static async Task StreamAsync(HttpContext http, SequenceHandle handle, string id, long created, string model,
        LogProbFormatter? logProbs, bool includeUsage)
    {
        var sse = new SseWriter(http.Response, http.RequestAborted);
        await sse.StartAsync();
        sse.Write(new ChatCompletionChunk(id, created, model, [new ChatChunkChoice(0, new ChatDelta("assistant", ""), null, null)]));
        await sse.FlushAsync();

        await SequenceStreamer.PumpAsync(http, sse, handle, logProbs is not null,
            t =>
            {
                var lp = logProbs is not null && t.TokenId >= 0 ? new ChatLogProbs([logProbs.Chat(t)]) : null;
                sse.Write(new ChatCompletionChunk(id, created, model, [new ChatChunkChoice(0, new ChatDelta(Content: t.Text), lp, null)]));
            },
            f =>
            {
                RequestLog.RecordTokens(http, f.PromptTokens, f.CompletionTokens);
                sse.Write(new ChatCompletionChunk(id, created, model,
                    [new ChatChunkChoice(0, new ChatDelta(), null, ResponseIds.FinishReason(f.Reason))]));
                if (includeUsage)
                    sse.Write(new ChatCompletionChunk(id, created, model, [], new Usage(f.PromptTokens, f.CompletionTokens)));
            });
    }
}
