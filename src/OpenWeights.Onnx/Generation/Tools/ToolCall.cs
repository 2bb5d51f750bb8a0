namespace OpenWeights.Onnx.Generation.Tools;

/// <summary>A call of a declared function, as OpenAI returns it: its id, the function's name, and the arguments as JSON text.</summary>
public sealed record ToolCall(string Id, string Name, string Arguments);
