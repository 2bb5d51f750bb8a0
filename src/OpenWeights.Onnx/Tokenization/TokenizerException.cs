namespace OpenWeights.Onnx.Tokenization;

/// <summary>A tokenizer that cannot be built: the message names the file and what was expected or is supported.</summary>
public sealed class TokenizerException(string message, Exception? inner = null) : Exception(message, inner);
