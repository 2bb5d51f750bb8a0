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
}
