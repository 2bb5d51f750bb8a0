namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>
/// A constrained sequence reached a point where no token of the vocabulary continues its document: the grammar
/// allows only bytes (<see cref="AllowedBytes"/>) that no token's bytes can start a valid continuation with, e.g. a
/// schema's <c>const</c> text with a character the tokenizer cannot spell. Only that sequence fails; the message
/// says where (the text so far and what the grammar was matching) and which bytes were needed.
/// </summary>
public sealed class ConstraintDeadEndException : InvalidOperationException
{
    public ConstraintDeadEndException(string message, string textSoFar, IReadOnlyList<byte> allowedBytes)
        : base(message)
    {
        TextSoFar = textSoFar;
        AllowedBytes = allowedBytes;
    }

    /// <summary>The sequence's generated text up to the dead end.</summary>
    public string TextSoFar { get; }

    /// <summary>The bytes the grammar would accept next (none of which any token continues with).</summary>
    public IReadOnlyList<byte> AllowedBytes { get; }
}
