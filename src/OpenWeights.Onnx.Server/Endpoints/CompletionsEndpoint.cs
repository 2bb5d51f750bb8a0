using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Server.Hosting;
using OpenWeights.Onnx.Server.Requests;
using OpenWeights.Onnx.Server.Responses;
using OpenWeights.Onnx.Server.Scheduling;

using OpenWeights.Onnx.Server.Metrics;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>POST /v1/completions: a raw prompt continued, answered whole or streamed.</summary>
internal static class CompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext http)
    {
        var options = http.RequestServices.GetRequiredService<ServerOptions>();
        var host = http.RequestServices.GetRequiredService<ModelHost>();
        CompletionRequest request;
        using (var body = await RequestBody.ReadJsonAsync(http, options.MaxBodyBytes))
            request = CompletionRequest.Parse(body.RootElement);

        var model = host.RequireReady();
        var adapter = model.Resolve(request.Parameters.Model);
        int[] prompt = model.EncodeCompletion(request);
        var generation = GenerationOptionsMapper.Map(request.Parameters, model.DefaultSampling, prompt.Length,
            model.MaxLength, CompletionRequest.DefaultMaxTokens, promptParam: "prompt");
        var handle = model.Submit(prompt, generation, request.Parameters.LogProbs, http.RequestAborted, adapter);

        string id = ResponseIds.Completion();
        long created = ResponseIds.Now();
        var logProbs = request.Parameters.LogProbs ? new LogProbFormatter(model.Tokenizer) : null;
        if (request.Parameters.Stream)
        {
            await StreamAsync(http, handle, id, created, request.Parameters.Model, logProbs, request.Parameters.IncludeUsage);
            return;
        }
        var result = await SequenceCollector.CollectAsync(handle, http.RequestAborted);
        RequestLog.RecordTokens(http, result.PromptTokens, result.CompletionTokens);
        var completion = new TextCompletion(id, created, request.Parameters.Model,
            [new TextChoice(result.Text, 0, logProbs?.Completion(result.Tokens, 0), ResponseIds.FinishReason(result.Reason))],
            new Usage(result.PromptTokens, result.CompletionTokens));
        await http.Response.WriteAsJsonAsync(completion, ServerJson.Options, http.RequestAborted);
    }

    private static async Task StreamAsync(HttpContext http, SequenceHandle handle, string id, long created, string model,
        LogProbFormatter? logProbs, bool includeUsage)
    {
        var sse = new SseWriter(http.Response, http.RequestAborted);
        await sse.StartAsync();
        int offset = 0;
        await SequenceStreamer.PumpAsync(http, sse, handle, logProbs is not null,
            t =>
            {
                var lp = logProbs is not null && t.TokenId >= 0 ? logProbs.Completion([t], offset) : null;
                offset += t.Text.Length;
                sse.Write(new TextCompletion(id, created, model, [new TextChoice(t.Text, 0, lp, null)]));
            },
            f =>
            {
                RequestLog.RecordTokens(http, f.PromptTokens, f.CompletionTokens);
                sse.Write(new TextCompletion(id, created, model, [new TextChoice("", 0, null, ResponseIds.FinishReason(f.Reason))]));
                if (includeUsage)
                    sse.Write(new TextCompletion(id, created, model, [], new Usage(f.PromptTokens, f.CompletionTokens)));
            });
    }
}
