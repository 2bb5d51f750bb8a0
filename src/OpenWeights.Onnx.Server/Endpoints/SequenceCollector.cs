using System.Text;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Server.Errors;
using OpenWeights.Onnx.Server.Scheduling;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>A whole generation, gathered for a non-streamed response.</summary>
internal sealed record CollectedSequence(string Text, IReadOnlyList<TokenGenerated> Tokens, FinishReason Reason,
    int PromptTokens, int CompletionTokens, int CachedTokens);

/// <summary>Reads a sequence's events to the end: its text and tokens, or the error it failed with.</summary>
internal static class SequenceCollector
{
    /// <param name="observe">Sees every token event in order (held-back text included), e.g. to read tool calls.</param>
    public static async Task<CollectedSequence> CollectAsync(SequenceHandle handle, CancellationToken cancellationToken,
        Action<TokenGenerated>? observe = null)
    {
        var text = new StringBuilder();
        var tokens = new List<TokenGenerated>();
        await foreach (var e in handle.Events.ReadAllAsync(cancellationToken))
        {
            switch (e)
            {
                case TokenGenerated t:
                    observe?.Invoke(t);
                    text.Append(t.Text);
                    if (t.TokenId >= 0)
                        tokens.Add(t);
                    break;
                case SequenceFinished { Reason: FinishReason.Cancelled }:
                    throw new OperationCanceledException(cancellationToken);
                case SequenceFinished f:
                    return new CollectedSequence(text.ToString(), tokens, f.Reason, f.PromptTokens, f.CompletionTokens, f.CachedTokens);
                case SequenceFailed f:
                    throw ToException(f);
            }
        }
        throw OpenAiException.Internal();
    }

    /// <summary>Every choice of a request, read concurrently (they decode together).</summary>
    /// <param name="observe">For choice i, what sees its token events (as in <see cref="CollectAsync"/>).</param>
    public static Task<CollectedSequence[]> CollectAllAsync(IReadOnlyList<SequenceHandle> handles, CancellationToken cancellationToken,
        Func<int, Action<TokenGenerated>>? observe = null) =>
        Task.WhenAll(handles.Select((h, i) => CollectAsync(h, cancellationToken, observe?.Invoke(i))));

    /// <summary>The usage of a request's choices: the prompt (read once) and every choice's completion.</summary>
    public static Responses.Usage Usage(IReadOnlyList<CollectedSequence> choices) =>
        new(choices[0].PromptTokens, choices.Sum(c => c.CompletionTokens), choices[0].CachedTokens);

    public static Responses.Usage Usage(IReadOnlyList<SequenceFinished> choices) =>
        new(choices[0].PromptTokens, choices.Sum(c => c.CompletionTokens), choices[0].CachedTokens);

    public static OpenAiException ToException(SequenceFailed failure) => failure.Failure switch
    {
        SequenceFailure.ShuttingDown => OpenAiException.Unavailable($"The server is shutting down: {failure.Message}"),
        // The request asked for output (response_format, a forced tool call) this model's vocabulary cannot write.
        SequenceFailure.Constraint => OpenAiException.BadRequest(failure.Message, null, "constraint_dead_end"),
        _ => OpenAiException.Internal(),
    };
}
