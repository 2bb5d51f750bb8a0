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

public sealed record ChatResponseMessage(string Role, string Content)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Refusal => null;
}
