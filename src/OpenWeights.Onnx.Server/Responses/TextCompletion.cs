using System.Text.Json.Serialization;

namespace OpenWeights.Onnx.Server.Responses;

/// <summary>
/// A legacy text completion (<c>object</c>: "text_completion"), streamed or not: a streamed one is a series of these,
/// each with a piece of text, the last with the finish reason.
/// </summary>
public sealed record TextCompletion(string Id, long Created, string Model, IReadOnlyList<TextChoice> Choices, Usage? Usage = null)
{
    public string Object => "text_completion";
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? SystemFingerprint => null;
}

public sealed record TextChoice(
    string Text,
    int Index,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] TextLogProbs? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

/// <summary>The legacy completions' log-probabilities: parallel lists per token; top alternatives as token → logprob.</summary>
public sealed record TextLogProbs(
    IReadOnlyList<string> Tokens,
    IReadOnlyList<float> TokenLogprobs,
    IReadOnlyList<IReadOnlyDictionary<string, float>> TopLogprobs,
    IReadOnlyList<int> TextOffset);
