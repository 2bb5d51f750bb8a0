using System.Text.Json.Serialization;

namespace OpenWeights.Onnx.Server.Responses;

/// <summary>
/// One server-sent event of a streamed chat completion (<c>object</c>: "chat.completion.chunk"). With
/// <c>stream_options.include_usage</c> the last chunk has no choices and carries the usage.
/// </summary>
public sealed record ChatCompletionChunk(string Id, long Created, string Model, IReadOnlyList<ChatChunkChoice> Choices, Usage? Usage = null)
{
    public string Object => "chat.completion.chunk";
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? SystemFingerprint => null;
}

public sealed record ChatChunkChoice(
    int Index,
    ChatDelta Delta,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] ChatLogProbs? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

/// <summary>What a chunk adds to the message: the role (first chunk only), text, or a piece of a tool call.</summary>
public sealed record ChatDelta(string? Role = null, string? Content = null, IReadOnlyList<ToolCallDelta>? ToolCalls = null);
