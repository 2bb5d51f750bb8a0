using System.Text.Json.Serialization;

namespace OpenWeights.Onnx.Server.Responses;

/// <summary>
/// Token counts of one request, as OpenAI reports them; <c>prompt_tokens_details.cached_tokens</c>: prompt tokens
/// taken from the prefix cache. With n choices the prompt counts once and the completions add up.
/// </summary>
public sealed record Usage(int PromptTokens, int CompletionTokens, [property: JsonIgnore] int CachedTokens = 0)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
    public PromptTokensDetails PromptTokensDetails => new(CachedTokens);
}

public sealed record PromptTokensDetails(int CachedTokens);
