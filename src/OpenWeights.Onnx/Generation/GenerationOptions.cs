using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Generation.Sampling;

namespace OpenWeights.Onnx.Generation;

/// <summary>What one generation asks for. Validated before any token is computed.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 128;
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;
    /// <summary>
    /// Generation ends before any of these strings; the string itself is not returned. With a <see cref="Constraint"/>
    /// they are matched only in its free text (<see cref="Constraints.OutputConstraint.FreeText"/>), never inside a
    /// constrained document, which therefore always ends whole.
    /// </summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Stop at the model's EOS ids (generation_config.json). Off only for benchmarks.</summary>
    public bool StopAtEos { get; init; } = true;
    /// <summary>How many top log-probabilities to report per token (0 = none).</summary>
    public int TopLogProbs { get; init; }
    /// <summary>
    /// What the generated text must be (a JSON object, a JSON Schema, a composition): tokens that cannot continue it
    /// are masked before sampling, and the sequence stops (finish reason stop) once it is complete. Null = free text.
    /// Needs the tokenizer (the sequence is started with one).
    /// </summary>
    public OutputConstraint? Constraint { get; init; }

    public void Validate()
    {
        if (MaxNewTokens < 1)
            throw new ArgumentException($"max new tokens {MaxNewTokens} must be at least 1.");
        if (StopStrings.Any(string.IsNullOrEmpty))
            throw new ArgumentException("stop strings must not be empty.");
        if (TopLogProbs is < 0 or > 20)
            throw new ArgumentException($"top logprobs {TopLogProbs} must be between 0 and 20.");
        Sampling.Validate();
    }
}
