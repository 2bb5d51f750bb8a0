namespace OpenWeights.Onnx.Server.Responses;

/// <summary>Token counts of one request, as OpenAI reports them.</summary>
public sealed record Usage(int PromptTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}
