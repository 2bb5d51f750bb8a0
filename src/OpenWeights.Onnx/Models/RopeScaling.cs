namespace OpenWeights.Onnx.Models;

/// <summary>The <c>rope_scaling</c> variants we implement, named as transformers names them.</summary>
public abstract record RopeScaling
{
    public static readonly string[] SupportedTypes = ["default", "linear", "llama3", "yarn"];

    /// <summary>Positions scaled down by a constant factor.</summary>
    public sealed record Linear(double Factor) : RopeScaling;

    /// <summary>Llama 3.1: low frequencies divided by factor, high kept, a smooth ramp between.</summary>
    public sealed record Llama3(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositions) : RopeScaling;

    /// <summary>YaRN: per-dimension blend of interpolation and extrapolation, plus an attention temperature.</summary>
    public sealed record Yarn(double Factor, int OriginalMaxPositions, double BetaFast, double BetaSlow, double AttentionFactor) : RopeScaling;

    /// <summary>
    /// LongRoPE (Phi-3): per-dimension divisors of the frequencies, one set for sequences up to
    /// <paramref name="OriginalMaxPositions"/> and one for longer ones, plus an attention factor on cos and sin.
    /// Which set applies depends on the whole sequence's length, so a KV cache computed with the short set
    /// is stale once the sequence grows past the original length (transformers recomputes it then).
    /// </summary>
    public sealed record LongRope(float[] ShortFactor, float[] LongFactor, int OriginalMaxPositions, double AttentionFactor) : RopeScaling;
}
