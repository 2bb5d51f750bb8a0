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
        // Calls are constrained to the call's syntax and the function's schema: forced ones from the start, in auto
        // mode from the model's call marker on (unless response_format constrains the whole answer). A marker that is
        // a special token stays allowed as that token. Their arguments always parse, so they stream as they are written.
        bool constrainedCalls = format is not null && (tools.Choice.ForcesCall || generation.Constraint is null);
        if (constrainedCalls)
            generation = generation with { Constraint = ToolRequest.CallConstraint(format!, tools) };
        var handles = model.Submit(prompt, generation, request.Parameters.LogProbs, http.RequestAborted, adapter, request.Parameters.N);
        // One reader per choice (n > 1): each choice's text may hold its own calls.
        var answers = handles.Select(_ => new ChatAnswerReader(format, tools, model.ToolMarkerTokenId, streamArguments: constrainedCalls, model.ToolArgsTokenId)).ToArray();

        string id = ResponseIds.Chat();
        long created = ResponseIds.Now();
        var logProbs = request.Parameters.LogProbs ? new LogProbFormatter(model.Tokenizer) : null;
        if (request.Parameters.Stream)
        {
            await StreamAsync(http, handles, answers, id, created, request.Parameters.Model, logProbs, request.Parameters.IncludeUsage,
                wantsTokenIds: logProbs is not null || tools.Active);
            return;
        }
        var events = answers.Select(_ => new List<ToolCallEvent>()).ToArray();
        var results = await SequenceCollector.CollectAllAsync(handles, http.RequestAborted, i => t => events[i].AddRange(answers[i].Push(t)));
        var usage = SequenceCollector.Usage(results);
        RequestLog.RecordTokens(http, usage.PromptTokens, usage.CompletionTokens);
        var choices = new List<ChatChoice>(results.Length);
        for (int i = 0; i < results.Length; i++)
        {
            events[i].AddRange(answers[i].Finish());
            var (content, calls) = ToolCallReader.Collect(events[i]);
            var message = new ChatResponseMessage("assistant", content,
                calls.Count > 0 ? calls.Select(ToolCallResponse.From).ToList() : null);
            choices.Add(new ChatChoice(i, message, logProbs?.Chat(results[i].Tokens), answers[i].FinishReason(results[i].Reason)));
        }
        var completion = new ChatCompletion(id, created, request.Parameters.Model, choices, usage);
        await http.Response.WriteAsJsonAsync(completion, ServerJson.Options, http.RequestAborted);
    }

    private static async Task StreamAsync(HttpContext http, IReadOnlyList<SequenceHandle> handles, ChatAnswerReader[] answers, string id, long created,
        string model, LogProbFormatter? logProbs, bool includeUsage, bool wantsTokenIds)
    {
        var sse = new SseWriter(http.Response, http.RequestAborted);
        await sse.StartAsync();
        for (int index = 0; index < handles.Count; index++)
            sse.Write(new ChatCompletionChunk(id, created, model, [new ChatChunkChoice(index, new ChatDelta("assistant", ""), null, null)]));
        await sse.FlushAsync();

        void Write(int index, ChatDelta delta, ChatLogProbs? lp) =>
            sse.Write(new ChatCompletionChunk(id, created, model, [new ChatChunkChoice(index, delta, lp, null)]));

        // Text goes out as it comes; a token's log-probabilities ride on its text (or on an empty delta when the
        // token's text is held back or belongs to a call).
        void WriteEvents(int index, IReadOnlyList<ToolCallEvent> events, ChatLogProbs? lp)
        {
            foreach (var e in events)
            {
                switch (e)
                {
                    case ContentText t:
                        Write(index, new ChatDelta(Content: t.Text), lp);
                        lp = null;
                        break;
                    case CallStarted s:
                        Write(index, new ChatDelta(ToolCalls: [new ToolCallDelta(s.Index, s.Id, "function", new FunctionDelta(s.Name, ""))]), null);
                        break;
                    case CallArguments a:
                        Write(index, new ChatDelta(ToolCalls: [new ToolCallDelta(a.Index, Function: new FunctionDelta(Arguments: a.Fragment))]), null);
                        break;
                }
            }
            if (lp is not null)
                Write(index, new ChatDelta(Content: ""), lp);
        }

        await SequenceStreamer.PumpAsync(http, sse, handles, wantsTokenIds,
            (index, t) =>
            {
                var lp = logProbs is not null && t.TokenId >= 0 ? new ChatLogProbs([logProbs.Chat(t)]) : null;
                WriteEvents(index, answers[index].Push(t), lp);
            },
            (index, f) =>
            {
                WriteEvents(index, answers[index].Finish(), null);
                sse.Write(new ChatCompletionChunk(id, created, model,
                    [new ChatChunkChoice(index, new ChatDelta(), null, answers[index].FinishReason(f.Reason))]));
            },
            finished =>
            {
                var usage = SequenceCollector.Usage(finished);
                RequestLog.RecordTokens(http, usage.PromptTokens, usage.CompletionTokens);
                if (includeUsage)
                    sse.Write(new ChatCompletionChunk(id, created, model, [], usage));
            });
    }
}
