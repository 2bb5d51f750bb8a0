using System.Globalization;
using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// transformers 4.46's <c>modeling_rope_utils._compute_{default,linear_scaling,llama3,yarn}_parameters</c>,
/// written from that file and not from the converter: the inverse frequencies as torch computes them
/// (float32 tensors; a Python scalar in an op with a float32 tensor is taken as float32; <c>s / t</c> on a
/// tensor is <c>t.reciprocal() * s</c>), and the attention scaling that the rotary embedding multiplies cos
/// and sin by. <paramref name="dim"/> is the rotary dimension (4.46: hidden_size // num_attention_heads ·
/// partial_rotary_factor).
/// </summary>
public static class RopeReference
{
    public static (float[] InvFreq, float AttentionScaling) Compute(JsonObject config, int dim)
    {
        double theta = Num(config["rope_theta"]) ?? 10000.0;
        if (config["rope_scaling"] is not JsonObject scaling)
            return (Default(theta, dim), 1f);
        string type = (scaling["rope_type"] ?? scaling["type"])!.GetValue<string>();
        return type switch
        {
            "default" => (Default(theta, dim), 1f),
            "linear" => (Linear(theta, dim, Num(scaling["factor"])!.Value), 1f),
            "llama3" => (Llama3(theta, dim, Num(scaling["factor"])!.Value, Num(scaling["low_freq_factor"])!.Value,
                Num(scaling["high_freq_factor"])!.Value, Num(scaling["original_max_position_embeddings"])!.Value), 1f),
            // 4.46: max_position_embeddings = config.max_position_embeddings (rope_scaling's
            // original_max_position_embeddings is not read by this function).
            "yarn" => Yarn(theta, dim, Num(scaling["factor"])!.Value, Num(config["max_position_embeddings"])!.Value,
                Num(scaling["attention_factor"]), NonZero(Num(scaling["beta_fast"])) ?? 32, NonZero(Num(scaling["beta_slow"])) ?? 1),
            _ => throw new NotSupportedException(type),
        };
    }

    /// <summary>1.0 / (base ** (arange(0, dim, 2).float() / dim)).</summary>
    public static float[] Default(double theta, int dim)
    {
        var inv = new float[dim / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            float exponent = (2 * i) / (float)dim;
            inv[i] = 1f / MathF.Pow((float)theta, exponent);
        }
        return inv;
    }

    /// <summary>inv_freq /= factor.</summary>
    public static float[] Linear(double theta, int dim, double factor) =>
        Default(theta, dim).Select(f => f / (float)factor).ToArray();

    public static float[] Llama3(double theta, int dim, double factor, double lowFreqFactor, double highFreqFactor, double oldContextLength)
    {
        var inv = Default(theta, dim);
        double lowFreqWavelen = oldContextLength / lowFreqFactor;   // Python floats
        double highFreqWavelen = oldContextLength / highFreqFactor;
        var result = new float[inv.Length];
        for (int i = 0; i < inv.Length; i++)
        {
            float wavelen = (1f / inv[i]) * (float)(2 * Math.PI);                      // 2 * math.pi / inv_freq
            float llama = wavelen > (float)lowFreqWavelen ? inv[i] / (float)factor : inv[i];
            float smooth = ((1f / wavelen) * (float)oldContextLength - (float)lowFreqFactor)
                           / (float)(highFreqFactor - lowFreqFactor);
            float smoothed = (1f - smooth) * llama / (float)factor + smooth * llama;
            bool medium = !(wavelen < (float)highFreqWavelen) && !(wavelen > (float)lowFreqWavelen);
            result[i] = medium ? smoothed : llama;
        }
        return result;
    }

    /// <summary>Which of llama3's bands each frequency falls in: 'h' kept, 'm' smoothed, 'l' divided by factor.</summary>
    public static string Llama3Bands(double theta, int dim, double lowFreqFactor, double highFreqFactor, double oldContextLength) =>
        new(Default(theta, dim).Select(f =>
        {
            float wavelen = (1f / f) * (float)(2 * Math.PI);
            return wavelen < (float)(oldContextLength / highFreqFactor) ? 'h'
                : wavelen > (float)(oldContextLength / lowFreqFactor) ? 'l' : 'm';
        }).ToArray());

    public static (float[] InvFreq, float AttentionScaling) Yarn(double theta, int dim, double factor, double maxPositions,
        double? attentionFactor, double betaFast, double betaSlow)
    {
        double attention = attentionFactor ?? 0.1 * Math.Log(factor) + 1.0;
        var ramp = YarnRamp(theta, dim, maxPositions, betaFast, betaSlow);
        var inv = new float[dim / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            float posFreq = MathF.Pow((float)theta, (2 * i) / (float)dim);
            float extrapolation = 1f / posFreq;
            float interpolation = 1f / ((float)factor * posFreq);
            float extrapolationFactor = 1f - ramp[i];
            inv[i] = interpolation * (1f - extrapolationFactor) + extrapolation * extrapolationFactor;
        }
        return (inv, (float)attention);
    }

    /// <summary>linear_ramp_factor(low, high, dim // 2) over find_correction_range(beta_fast, beta_slow, …): 0 extrapolates, 1 interpolates.</summary>
    public static float[] YarnRamp(double theta, int dim, double maxPositions, double betaFast, double betaSlow)
    {
        double CorrectionDim(double rotations) =>
            dim * Math.Log(maxPositions / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = Math.Max(Math.Floor(CorrectionDim(betaFast)), 0);
        double high = Math.Min(Math.Ceiling(CorrectionDim(betaSlow)), dim - 1);
        if (low == high) high += 0.001;
        var ramp = new float[dim / 2];
        for (int i = 0; i < ramp.Length; i++)
            ramp[i] = Math.Clamp((i - (float)low) / (float)(high - low), 0f, 1f);
        return ramp;
    }

    /// <summary>Python's <c>x or default</c> for a number.</summary>
    private static double? NonZero(double? x) => x is 0 ? null : x;

    private static double? Num(JsonNode? node) =>
        node is null ? null : double.Parse(node.ToJsonString(), CultureInfo.InvariantCulture);
}
