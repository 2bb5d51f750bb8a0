using System.Text.Json.Serialization;

namespace OpenWeights.Onnx.Server.Responses;

/// <summary>A non-streamed chat completion (<c>object</c>: "chat.completion").</summary>
public sealed record ChatCompletion(string Id, long Created, string Model, IReadOnlyList<ChatChoice> Choices, Usage Usage)
{
    public string Object => "chat.completion";
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? SystemFingerprint => null;
}

public sealed record ChatChoice(
    int Index,
    ChatResponseMessage Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] ChatLogProbs? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

/// <summary>The answer: its text (null when it only calls tools) and its tool calls (left out when none).</summary>
public sealed record ChatResponseMessage(
    string Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Content,
    IReadOnlyList<ToolCallResponse>? ToolCalls = null)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Refusal => null;
}
