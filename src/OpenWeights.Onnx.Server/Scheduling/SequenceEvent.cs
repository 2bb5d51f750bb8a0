using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;

namespace OpenWeights.Onnx.Server.Scheduling;

/// <summary>What a scheduled sequence reports, in order: tokens, then exactly one finish or failure.</summary>
public abstract record SequenceEvent;

/// <summary>
/// A generated token and the text it completed (may be empty: half a UTF-8 character, or text held back while it
/// could begin a stop string). <see cref="TokenId"/> is -1 for held-back text released at the end.
/// </summary>
public sealed record TokenGenerated(string Text, int TokenId, float LogProb, TokenLogProb[]? TopLogProbs) : SequenceEvent;

/// <summary>
/// The sequence ended: EOS or a stop string (Stop), max tokens (Length), or its cancellation (Cancelled).
/// <see cref="CachedTokens"/>: prompt tokens whose keys and values came from the prefix cache.
/// </summary>
public sealed record SequenceFinished(FinishReason Reason, int PromptTokens, int CompletionTokens, int CachedTokens = 0) : SequenceEvent;

/// <summary>The sequence could not go on: the server is shutting down, the runtime failed, or its constraint reached a dead end.</summary>
public sealed record SequenceFailed(SequenceFailure Failure, string Message) : SequenceEvent;

public enum SequenceFailure
{
    ShuttingDown,
    Internal,
    /// <summary>No token of the vocabulary continues the request's constrained output (the message says where and which bytes).</summary>
    Constraint,
}
