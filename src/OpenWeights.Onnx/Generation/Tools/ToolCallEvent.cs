namespace OpenWeights.Onnx.Generation.Tools;

/// <summary>What a <see cref="ToolCallReader"/> makes of the generated text, in order.</summary>
public abstract record ToolCallEvent;

/// <summary>Text of the answer (not part of any call).</summary>
public sealed record ContentText(string Text) : ToolCallEvent;

/// <summary>A call begins: its index among this answer's calls, its new id, the function's name.</summary>
public sealed record CallStarted(int Index, string Id, string Name) : ToolCallEvent;

/// <summary>More of a call's arguments (JSON text; the fragments of a call join to its whole arguments).</summary>
public sealed record CallArguments(int Index, string Fragment) : ToolCallEvent;
