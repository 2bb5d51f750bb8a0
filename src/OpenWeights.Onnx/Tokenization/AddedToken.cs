namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// One entry of <c>tokenizer.json</c>'s <c>added_tokens</c>: matched whole in the raw text before normalization
/// and pre-tokenization. <see cref="Special"/> tokens are the ones <c>skip_special_tokens</c> drops when decoding.
/// </summary>
public sealed record AddedToken(int Id, string Content, bool Special);
