using OpenWeights.Onnx.Generation.Tools;

namespace OpenWeights.Onnx.Generation;

/// <summary>
/// One turn of a conversation: role ("system", "user", "assistant", "tool") and its text. An assistant turn that
/// called tools carries them in <see cref="ToolCalls"/> (its text may then be null); a "tool" turn answers the call
/// named by <see cref="ToolCallId"/>, and <see cref="Name"/> is the function's name.
/// </summary>
public sealed record ChatMessage(string Role, string? Content)
{
    public IReadOnlyList<ToolCall> ToolCalls { get; init; } = [];
    public string? ToolCallId { get; init; }
    public string? Name { get; init; }
}
