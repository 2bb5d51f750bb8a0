using System.Globalization;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Generation.Sampling;

/// <summary>
/// How the next token is chosen from a step's logits. The defaults are greedy decoding with no penalties.
/// Processing order (as in transformers/vLLM): logit bias → (a constraint's mask) → repetition penalty → presence/frequency penalties → temperature →
/// top-k → top-p → min-p → draw.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Greedy decoding, no penalties.</summary>
    public static SamplingOptions Greedy { get; } = new();

    /// <summary>
    /// Softmax temperature; 0 = greedy (argmax, lowest index on ties), where top-k/top-p/min-p and the seed have no
    /// effect (the penalties still apply). Must be finite and ≥ 0.
    /// </summary>
    public float Temperature { get; init; }

    /// <summary>Keep only the k most likely tokens (tokens tied with the k-th are kept too); 0 = off. Must be ≥ 0.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of most likely tokens whose mass is ≥ TopP; 1 = off. Must be in (0, 1].</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Drop tokens whose probability is below MinP × the top token's probability; 0 = off. Must be in [0, 1).</summary>
    public float MinP { get; init; }

    /// <summary>
    /// transformers' repetition penalty over every token seen (prompt and generated): a positive logit is divided by it,
    /// any other multiplied. 1 = off. Must be finite and &gt; 0.
    /// </summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>OpenAI presence penalty: subtracted once from each token generated at least once. 0 = off. In [-2, 2].</summary>
    public float PresencePenalty { get; init; }

    /// <summary>OpenAI frequency penalty: subtracted once per time a token was generated. 0 = off. In [-2, 2].</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>
    /// OpenAI's <c>logit_bias</c>: added to the logit of each listed token id before anything else (penalties,
    /// temperature, greedy choice). In [-100, 100]: ±100 in practice forces or bans a token. Ids are checked against
    /// the vocabulary when a sampler is made. Null or empty = off.
    /// </summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>Seed of the sampler's random stream: the same seed, options and logits give the same tokens. Null = random.</summary>
    public long? Seed { get; init; }

    /// <summary>True when tokens are chosen by argmax (<see cref="Temperature"/> is 0).</summary>
    public bool IsGreedy => Temperature == 0f;

    /// <summary>True when any of the repetition, presence or frequency penalties is active.</summary>
    public bool HasPenalties => RepetitionPenalty != 1f || PresencePenalty != 0f || FrequencyPenalty != 0f;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option out of its range, its value and the range.</summary>
    public void Validate()
    {
        if (!float.IsFinite(Temperature) || Temperature < 0f)
            throw Invalid(nameof(Temperature), Temperature, "a finite number >= 0 (0 = greedy)");
        if (TopK < 0)
            throw Invalid(nameof(TopK), TopK, "an integer >= 0 (0 = off)");
        if (!(TopP > 0f && TopP <= 1f))
            throw Invalid(nameof(TopP), TopP, "in (0, 1] (1 = off)");
        if (!(MinP >= 0f && MinP < 1f))
            throw Invalid(nameof(MinP), MinP, "in [0, 1) (0 = off)");
        if (!float.IsFinite(RepetitionPenalty) || RepetitionPenalty <= 0f)
            throw Invalid(nameof(RepetitionPenalty), RepetitionPenalty, "a finite number > 0 (1 = off)");
        if (!(PresencePenalty >= -2f && PresencePenalty <= 2f))
            throw Invalid(nameof(PresencePenalty), PresencePenalty, "in [-2, 2] (0 = off)");
        if (!(FrequencyPenalty >= -2f && FrequencyPenalty <= 2f))
            throw Invalid(nameof(FrequencyPenalty), FrequencyPenalty, "in [-2, 2] (0 = off)");
        if (LogitBias is not null)
            foreach (var (token, bias) in LogitBias)
            {
                if (token < 0)
                    throw new ArgumentException($"Sampling option LogitBias has token id {token}: ids must be >= 0.", nameof(LogitBias));
                if (!(bias >= -100f && bias <= 100f))
                    throw new ArgumentException(
                        $"Sampling option LogitBias = {bias.ToString(CultureInfo.InvariantCulture)} for token {token} is out of range: must be in [-100, 100].",
                        nameof(LogitBias));
            }
    }

    /// <summary>Throws <see cref="ArgumentException"/> when a <see cref="LogitBias"/> id is outside a vocabulary of <paramref name="vocabSize"/> ids.</summary>
    public void ValidateFor(int vocabSize)
    {
        if (LogitBias is null)
            return;
        foreach (int token in LogitBias.Keys)
            if (token >= vocabSize)
                throw new ArgumentException(
                    $"Sampling option LogitBias has token id {token}, outside the vocabulary (ids 0 to {vocabSize - 1}).", nameof(LogitBias));
    }

    /// <summary>
    /// The options a checkpoint's <c>generation_config.json</c> asks for: with <c>do_sample</c> false only the
    /// repetition penalty is kept (transformers applies it to greedy search too).
    /// </summary>
    public static SamplingOptions FromGenerationConfig(GenerationConfig config, long? seed = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var options = config.DoSample
            ? new SamplingOptions
            {
                Temperature = (float)config.Temperature,
                TopK = config.TopK,
                TopP = (float)config.TopP,
                RepetitionPenalty = (float)config.RepetitionPenalty,
                Seed = seed,
            }
            : new SamplingOptions { RepetitionPenalty = (float)config.RepetitionPenalty, Seed = seed };
        options.Validate();
        return options;
    }

    private static ArgumentException Invalid<T>(string option, T value, string range) where T : IFormattable =>
        new($"Sampling option {option} = {value.ToString(null, CultureInfo.InvariantCulture)} is out of range: must be {range}.",
            option);
}
