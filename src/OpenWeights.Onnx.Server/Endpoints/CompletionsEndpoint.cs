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
        var handles = model.Submit(prompt, generation, request.Parameters.LogProbs, http.RequestAborted, adapter, request.Parameters.N);

        string id = ResponseIds.Completion();
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
        var completion = new TextCompletion(id, created, request.Parameters.Model,
            results.Select((result, index) => new TextChoice(result.Text, index, logProbs?.Completion(result.Tokens, 0),
                ResponseIds.FinishReason(result.Reason))).ToList(),
            usage);
        await http.Response.WriteAsJsonAsync(completion, ServerJson.Options, http.RequestAborted);
    }

    private static async Task StreamAsync(HttpContext http, IReadOnlyList<SequenceHandle> handles, string id, long created, string model,
        LogProbFormatter? logProbs, bool includeUsage)
    {
        var sse = new SseWriter(http.Response, http.RequestAborted);
        await sse.StartAsync();
        var offsets = new int[handles.Count];
        await SequenceStreamer.PumpAsync(http, sse, handles, logProbs is not null,
            (index, t) =>
            {
                var lp = logProbs is not null && t.TokenId >= 0 ? logProbs.Completion([t], offsets[index]) : null;
                offsets[index] += t.Text.Length;
                sse.Write(new TextCompletion(id, created, model, [new TextChoice(t.Text, index, lp, null)]));
            },
            (index, f) => sse.Write(new TextCompletion(id, created, model, [new TextChoice("", index, null, ResponseIds.FinishReason(f.Reason))])),
            finished =>
            {
                var usage = SequenceCollector.Usage(finished);
                RequestLog.RecordTokens(http, usage.PromptTokens, usage.CompletionTokens);
                if (includeUsage)
                    sse.Write(new TextCompletion(id, created, model, [], usage));
            });
    }
}
