namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// One entry of <c>tokenizer.json</c>'s <c>added_tokens</c>: matched whole in the raw text before normalization
/// and pre-tokenization. <see cref="Special"/> tokens are the ones <c>skip_special_tokens</c> drops when decoding.
/// </summary>
public sealed record AddedToken(int Id, string Content, bool Special)
{
    /// <summary>Whitespace before the token is taken into it (not encoded).</summary>
    public bool LStrip { get; init; }
    /// <summary>Whitespace after the token is taken into it (not encoded).</summary>
    public bool RStrip { get; init; }
    /// <summary>The token only matches as a whole word (not inside a word).</summary>
    public bool SingleWord { get; init; }
}
