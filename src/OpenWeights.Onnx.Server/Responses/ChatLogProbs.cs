using System.Text.Json.Serialization;

namespace OpenWeights.Onnx.Server.Responses;

/// <summary>Chat log-probabilities: one entry per generated token, each with its most likely alternatives.</summary>
public sealed record ChatLogProbs(IReadOnlyList<ChatTokenLogProb> Content)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public IReadOnlyList<ChatTokenLogProb>? Refusal => null;
}

/// <summary>A token's text, log-probability (natural log) and UTF-8 bytes (a token may hold part of a character).</summary>
public sealed record ChatTokenLogProb(string Token, float Logprob, int[] Bytes, IReadOnlyList<ChatTopLogProb> TopLogprobs);

public sealed record ChatTopLogProb(string Token, float Logprob, int[] Bytes);
