namespace OpenWeights.Onnx.Checkpoints;

/// <summary>A checkpoint that cannot be read: the message names the file, the tensor or the field and what was expected.</summary>
public sealed class CheckpointException(string message, Exception? inner = null) : Exception(message, inner);
