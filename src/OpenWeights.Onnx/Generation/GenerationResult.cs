namespace OpenWeights.Onnx.Generation;

/// <summary>Timing of one generation, split so that the loop's own overhead is visible.</summary>
public sealed record GenerationStats
{
    public int PromptTokens { get; init; }
    /// <summary>Prompt tokens served from the cache of an earlier turn rather than recomputed.</summary>
    public int ReusedPromptTokens { get; init; }
    public int GeneratedTokens { get; init; }
    public TimeSpan TimeToFirstToken { get; init; }
    public TimeSpan DecodeTime { get; init; }
    /// <summary>Time inside ONNX Runtime's Run during decode steps.</summary>
    public TimeSpan DecodeRunTime { get; init; }

    public double DecodeTokensPerSecond => GeneratedTokens > 1 ? (GeneratedTokens - 1) / DecodeTime.TotalSeconds : 0;
    /// <summary>Share of decode time spent outside Run (sampling, detokenizing, bookkeeping).</summary>
    public double LoopOverhead => DecodeTime > TimeSpan.Zero ? 1 - DecodeRunTime / DecodeTime : 0;
}

public sealed record GenerationResult(string Text, IReadOnlyList<int> TokenIds, FinishReason FinishReason, GenerationStats Stats);
