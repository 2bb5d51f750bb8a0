using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Server.Hosting;
using OpenWeights.Onnx.Server.Metrics;
using OpenWeights.Onnx.Server.Requests;
using OpenWeights.Onnx.Server.Responses;
using OpenWeights.Onnx.Server.Scheduling;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>
/// POST /v1/chat/completions: the messages (and tools) through the model's chat template, answered whole or streamed;
/// with tools, the answer's calls are read back into <c>tool_calls</c>.
/// </summary>
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
        var tools = request.Tools;
        // tool_choice "none" does not show the tools to the model at all.
        var format = tools.Active ? model.RequireToolFormat() : null;
        int[] prompt = model.EncodeChat(request.Messages, tools.Active ? tools.Tools : null);
        var generation = GenerationOptionsMapper.Map(request.Parameters, model.DefaultSampling, prompt.Length,
            model.MaxLength, defaultMaxTokens: int.MaxValue, promptParam: "messages");
        // A forced call is constrained to the call's syntax and the function's schema: its arguments always parse,
        // so they can stream as they are written.
        bool forced = format is not null && tools.Choice.ForcesCall;
        if (forced)
            generation = generation with { Constraint = ToolRequest.ForcedCallConstraint(format!, tools) };
        var handle = model.Submit(prompt, generation, request.Parameters.LogProbs, http.RequestAborted, adapter);
        var answer = new ChatAnswerReader(format, tools, model.ToolMarkerTokenId, streamArguments: forced);

        string id = ResponseIds.Chat();
        long created = ResponseIds.Now();
        var logProbs = request.Parameters.LogProbs ? new LogProbFormatter(model.Tokenizer) : null;
        if (request.Parameters.Stream)
        {
            await StreamAsync(http, handle, answer, id, created, request.Parameters.Model, logProbs, request.Parameters.IncludeUsage,
                wantsTokenIds: logProbs is not null || tools.Active);
            return;
        }
        var events = new List<ToolCallEvent>();
        var result = await SequenceCollector.CollectAsync(handle, http.RequestAborted, t => events.AddRange(answer.Push(t)));
        events.AddRange(answer.Finish());
        RequestLog.RecordTokens(http, result.PromptTokens, result.CompletionTokens);
        var (content, calls) = ToolCallReader.Collect(events);
        var message = new ChatResponseMessage("assistant", content,
            calls.Count > 0 ? calls.Select(ToolCallResponse.From).ToList() : null);
        var completion = new ChatCompletion(id, created, request.Parameters.Model,
            [new ChatChoice(0, message, logProbs?.Chat(result.Tokens), answer.FinishReason(result.Reason))],
            new Usage(result.PromptTokens, result.CompletionTokens));
        await http.Response.WriteAsJsonAsync(completion, ServerJson.Options, http.RequestAborted);
    }

    private static async Task StreamAsync(HttpContext http, SequenceHandle handle, ChatAnswerReader answer, string id, long created,
        string model, LogProbFormatter? logProbs, bool includeUsage, bool wantsTokenIds)
    {
        var sse = new SseWriter(http.Response, http.RequestAborted);
        await sse.StartAsync();
        sse.Write(new ChatCompletionChunk(id, created, model, [new ChatChunkChoice(0, new ChatDelta("assistant", ""), null, null)]));
        await sse.FlushAsync();

        void Write(ChatDelta delta, ChatLogProbs? lp) =>
            sse.Write(new ChatCompletionChunk(id, created, model, [new ChatChunkChoice(0, delta, lp, null)]));

        // Text goes out as it comes; a token's log-probabilities ride on its text (or on an empty delta when the
        // token's text is held back or belongs to a call).
        void WriteEvents(IReadOnlyList<ToolCallEvent> events, ChatLogProbs? lp)
        {
            foreach (var e in events)
            {
                switch (e)
                {
                    case ContentText t:
                        Write(new ChatDelta(Content: t.Text), lp);
                        lp = null;
                        break;
                    case CallStarted s:
                        Write(new ChatDelta(ToolCalls: [new ToolCallDelta(s.Index, s.Id, "function", new FunctionDelta(s.Name, ""))]), null);
                        break;
                    case CallArguments a:
                        Write(new ChatDelta(ToolCalls: [new ToolCallDelta(a.Index, Function: new FunctionDelta(Arguments: a.Fragment))]), null);
                        break;
                }
            }
            if (lp is not null)
                Write(new ChatDelta(Content: ""), lp);
        }

        await SequenceStreamer.PumpAsync(http, sse, handle, wantsTokenIds,
            t =>
            {
                var lp = logProbs is not null && t.TokenId >= 0 ? new ChatLogProbs([logProbs.Chat(t)]) : null;
                WriteEvents(answer.Push(t), lp);
            },
            f =>
            {
                WriteEvents(answer.Finish(), null);
                RequestLog.RecordTokens(http, f.PromptTokens, f.CompletionTokens);
                sse.Write(new ChatCompletionChunk(id, created, model,
                    [new ChatChunkChoice(0, new ChatDelta(), null, answer.FinishReason(f.Reason))]));
                if (includeUsage)
                    sse.Write(new ChatCompletionChunk(id, created, model, [], new Usage(f.PromptTokens, f.CompletionTokens)));
            });
    }
}
