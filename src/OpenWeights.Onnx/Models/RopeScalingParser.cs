using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Models;

/// <summary>Reads <c>rope_theta</c> and <c>rope_scaling</c> from a config as transformers interprets them.</summary>
public static class RopeScalingParser
{
    public static RotaryEmbedding Parse(HfConfig config, int headDim) =>
        Unscaled(config, headDim) with { Scaling = ParseScaling(config) };

    /// <summary><c>rope_theta</c> and <c>partial_rotary_factor</c> only, for families that read <c>rope_scaling</c> themselves.</summary>
    public static RotaryEmbedding Unscaled(HfConfig config, int headDim)
    {
        double theta = config.Double("rope_theta", 10000.0)!.Value;
        double partial = config.Double("partial_rotary_factor", 1.0)!.Value;
        int rotaryDim = (int)(headDim * partial);
        return new RotaryEmbedding(theta, rotaryDim);
    }

    private static RopeScaling? ParseScaling(HfConfig config)
    {
        var s = config.Object("rope_scaling");
        if (s is null)
            return null;
        string type = (s["rope_type"] ?? s["type"])?.GetValue<string>()
                      ?? throw config.Invalid("rope_scaling", "has neither 'rope_type' nor 'type'");
        double Number(string field, double? fallback = null) =>
            s[field]?.GetValue<double>() ?? fallback
            ?? throw config.Invalid("rope_scaling", $"of type '{type}' needs '{field}'");
        int originalMax = (int)Number("original_max_position_embeddings",
            config.Int("original_max_position_embeddings", null) ?? config.Int("max_position_embeddings", null));

        return type switch
        {
            "default" => null,
            "linear" => new RopeScaling.Linear(Number("factor")),
            "llama3" => new RopeScaling.Llama3(Number("factor"), Number("low_freq_factor"), Number("high_freq_factor"), originalMax),
            "yarn" => Yarn(s, Number("factor"), originalMax),
            _ => throw config.Invalid("rope_scaling",
                $"has type '{type}', which is not supported for this architecture (supported: {string.Join(", ", RopeScaling.SupportedTypes)})"),
        };
    }

    private static RopeScaling.Yarn Yarn(JsonObject s, double factor, int originalMax)
    {
        static double MScale(double scale, double m) => scale <= 1 ? 1.0 : 0.1 * m * Math.Log(scale) + 1.0;
        double? attentionFactor = s["attention_factor"]?.GetValue<double>();
        double? mscale = s["mscale"]?.GetValue<double>();
        double? mscaleAllDim = s["mscale_all_dim"]?.GetValue<double>();
        attentionFactor ??= mscale is { } m && mscaleAllDim is { } mad
            ? MScale(factor, m) / MScale(factor, mad)
            : MScale(factor, 1);
        return new RopeScaling.Yarn(factor, originalMax,
            s["beta_fast"]?.GetValue<double>() ?? 32, s["beta_slow"]?.GetValue<double>() ?? 1, attentionFactor.Value);
    }
}
