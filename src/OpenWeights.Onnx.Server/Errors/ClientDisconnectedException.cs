namespace OpenWeights.Onnx.Server.Errors;

/// <summary>
/// The client stopped reading a stream (its connection is gone) before ASP.NET Core signalled RequestAborted.
/// Handled like an abort: nothing more is written and the request counts as 499.
/// </summary>
public sealed class ClientDisconnectedException() : OperationCanceledException("the client stopped reading the stream.");
