namespace OpenWeights.Onnx.Generation.Sampling;

/// <summary>A token and its log-probability (natural log), as reported for <c>logprobs</c>/<c>top_logprobs</c>.</summary>
public readonly record struct TokenLogProb(int TokenId, float LogProb);
