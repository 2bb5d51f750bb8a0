using System.Text.Json.Serialization;
using OpenWeights.Onnx.Generation.Tools;

namespace OpenWeights.Onnx.Server.Responses;

/// <summary>A tool call in a response message: <c>{"id", "type": "function", "function": {"name", "arguments"}}</c>.</summary>
public sealed record ToolCallResponse(string Id, string Type, FunctionCall Function)
{
    public static ToolCallResponse From(ToolCall call) => new(call.Id, "function", new FunctionCall(call.Name, call.Arguments));
}

/// <summary>The function called and its arguments (a JSON object, as text).</summary>
public sealed record FunctionCall(string Name, string Arguments);

/// <summary>
/// A piece of a streamed tool call, as OpenAI streams them: the first piece of a call has its index, id, type and
/// name (and "" arguments); later pieces have the index and more of the arguments text.
/// </summary>
public sealed record ToolCallDelta(
    int Index,
    string? Id = null,
    [property: JsonPropertyName("type")] string? Type = null,
    FunctionDelta? Function = null);

public sealed record FunctionDelta(string? Name = null, string? Arguments = null);
