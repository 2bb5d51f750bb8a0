namespace OpenWeights.Onnx.Hub;

/// <summary>
/// The Hub could not give us a model: the message says which repo, revision or file, what the Hub (or the
/// network) answered, and what the user can do about it. An I/O failure to callers that report those.
/// </summary>
public sealed class HubException(string message, Exception? inner = null) : IOException(message, inner);
