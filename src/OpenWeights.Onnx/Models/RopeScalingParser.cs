using OpenWeights.Onnx.Checkpoints;
namespace OpenWeights.Onnx.Models;

/// <summary>
/// Reads <c>rope_theta</c> and <c>rope_scaling</c> from a config as transformers interprets them, refusing values
/// transformers would compute nonsense from (a theta or factor ≤ 0, a rotary fraction outside (0, 1]).
/// </summary>
public static class RopeScalingParser
{
    public static RotaryEmbedding Parse(HfConfig config, int headDim) =>
        Unscaled(config, headDim) with { Scaling = ParseScaling(config) };

    /// <summary><c>rope_theta</c> and <c>partial_rotary_factor</c> only, for families that read <c>rope_scaling</c> themselves.</summary>
    public static RotaryEmbedding Unscaled(HfConfig config, int headDim)
    {
        double theta = config.Positive("rope_theta", 10000.0)!.Value;
        double partial = config.Double("partial_rotary_factor", 1.0)!.Value;
        if (!(partial > 0 && partial <= 1))
            throw config.Invalid("partial_rotary_factor", $"is {partial}; it must be in (0, 1] (the fraction of each head that rotates)");
        int rotaryDim = (int)(headDim * partial);
        if (rotaryDim < 2)
            throw config.Invalid("partial_rotary_factor", $"is {partial}; with head_dim {headDim} that leaves {rotaryDim} rotary dimensions (at least 2 are needed)");
        return new RotaryEmbedding(theta, rotaryDim);
    }

    /// <summary>The <c>type</c> (or <c>rope_type</c>) of a <c>rope_scaling</c> section.</summary>
    public static string Type(HfConfig section, string preferred = "rope_type", string other = "type") =>
        section.String(preferred) ?? section.String(other)
        ?? throw section.Missing(preferred, "a string naming the scaling, or 'type'");

    private static RopeScaling? ParseScaling(HfConfig config)
    {
        var s = config.Section("rope_scaling");
        if (s is null)
            return null;
        string type = Type(s);
        if (type == "default")
            return null;
        double Factor() => s.Positive("factor", null) ?? throw s.Missing("factor", "a number > 0");
        int OriginalMax() =>
            s.Int("original_max_position_embeddings", null, 1, int.MaxValue)
            ?? config.Int("original_max_position_embeddings", null, 1, int.MaxValue)
            ?? config.Int("max_position_embeddings", 1, int.MaxValue);

        return type switch
        {
            "linear" => new RopeScaling.Linear(Factor()),
            "llama3" => Llama3(s, Factor(), OriginalMax()),
            "yarn" => Yarn(s, Factor(), OriginalMax()),
            _ => throw config.Invalid("rope_scaling",
                $"has type '{type}', which is not supported for this architecture (supported: {string.Join(", ", RopeScaling.SupportedTypes)})"),
        };
    }

    private static RopeScaling.Llama3 Llama3(HfConfig s, double factor, int originalMax)
    {
        double low = s.Positive("low_freq_factor", null) ?? throw s.Missing("low_freq_factor", "a number > 0");
        double high = s.Positive("high_freq_factor", null) ?? throw s.Missing("high_freq_factor", "a number > 0");
        if (!(high > low))
            throw s.Invalid("high_freq_factor", $"is {high}; it must be greater than low_freq_factor ({low})");
        return new RopeScaling.Llama3(factor, low, high, originalMax);
    }

    private static RopeScaling.Yarn Yarn(HfConfig s, double factor, int originalMax)
    {
        static double MScale(double scale, double m) => scale <= 1 ? 1.0 : 0.1 * m * Math.Log(scale) + 1.0;
        double? attentionFactor = s.Positive("attention_factor", null);
        double? mscale = s.Double("mscale", null);
        double? mscaleAllDim = s.Double("mscale_all_dim", null);
        attentionFactor ??= mscale is { } m && mscaleAllDim is { } mad
            ? MScale(factor, m) / MScale(factor, mad)
            : MScale(factor, 1);
        if (!double.IsFinite(attentionFactor.Value) || attentionFactor <= 0)
            throw s.Invalid("mscale", $"and mscale_all_dim give an attention factor of {attentionFactor}; it must be a finite number > 0");
        double betaFast = s.Positive("beta_fast", 32)!.Value;
        double betaSlow = s.Positive("beta_slow", 1)!.Value;
        return new RopeScaling.Yarn(factor, originalMax, betaFast, betaSlow, attentionFactor.Value);
    }
}
