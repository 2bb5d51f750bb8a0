namespace OpenWeights.Onnx.Models;

/// <summary>
/// Rotary position embedding: the inverse frequencies (with scaling applied) and the cos/sin tables that
/// <c>GroupQueryAttention</c> reads. Follows transformers' <c>rope_init_fn</c>s, computed in float32 as torch does.
/// </summary>
public sealed record RotaryEmbedding(double Theta, int RotaryDim, RopeScaling? Scaling = null)
{
    /// <summary>Multiplies cos and sin (YaRN's attention temperature, LongRoPE's attention factor; 1 elsewhere).</summary>
    public float AttentionScaling => Scaling switch
    {
        RopeScaling.Yarn y => (float)y.AttentionFactor,
        RopeScaling.LongRope l => (float)l.AttentionFactor,
        _ => 1f,
    };

    /// <summary>The length up to which the short tables apply (LongRoPE only).</summary>
    public int? SwitchLength => Scaling is RopeScaling.LongRope l ? l.OriginalMaxPositions : null;

    /// <param name="longFactors">LongRoPE: the set for sequences longer than the original length.</param>
    public float[] InverseFrequencies(bool longFactors = false)
    {
        int half = RotaryDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
            inv[i] = 1f / MathF.Pow((float)Theta, (2 * i) / (float)RotaryDim);

        switch (Scaling)
        {
            case null:
                return inv;
            case RopeScaling.LongRope l:
                // transformers: 1 / (ext_factors * base ** (arange(0, dim, 2) / dim)), all float32.
                var factors = longFactors ? l.LongFactor : l.ShortFactor;
                for (int i = 0; i < half; i++)
                    inv[i] = 1f / (factors[i] * MathF.Pow((float)Theta, (2 * i) / (float)RotaryDim));
                return inv;
            case RopeScaling.Linear l:
                for (int i = 0; i < half; i++) inv[i] = (float)(inv[i] / l.Factor);
                return inv;
            case RopeScaling.Llama3 l3:
                return ApplyLlama3(inv, l3);
            case RopeScaling.Yarn y:
                return Yarn(y);
            default:
                throw new NotSupportedException(Scaling.GetType().Name);
        }
    }

    private static float[] ApplyLlama3(float[] inv, RopeScaling.Llama3 s)
    {
        double lowWavelen = s.OriginalMaxPositions / s.LowFreqFactor;
        double highWavelen = s.OriginalMaxPositions / s.HighFreqFactor;
        var result = new float[inv.Length];
        for (int i = 0; i < inv.Length; i++)
        {
            double wavelen = 2 * Math.PI / inv[i];
            double scaled = wavelen > lowWavelen ? inv[i] / s.Factor : inv[i];
            bool medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
            if (medium)
            {
                double smooth = (s.OriginalMaxPositions / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                scaled = (1 - smooth) * scaled / s.Factor + smooth * scaled;
            }
            result[i] = (float)scaled;
        }
        return result;
    }

    private float[] Yarn(RopeScaling.Yarn s)
    {
        int dim = RotaryDim;
        double CorrectionDim(double rotations) =>
            dim * Math.Log(s.OriginalMaxPositions / (rotations * 2 * Math.PI)) / (2 * Math.Log(Theta));
        double low = Math.Max(Math.Floor(CorrectionDim(s.BetaFast)), 0);
        double high = Math.Min(Math.Ceiling(CorrectionDim(s.BetaSlow)), dim - 1);
        if (low == high) high += 0.001;

        var inv = new float[dim / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            float posFreq = MathF.Pow((float)Theta, (2 * i) / (float)dim);
            double extrapolation = 1.0 / posFreq;
            double interpolation = 1.0 / (s.Factor * posFreq);
            double ramp = Math.Clamp((i - low) / (high - low), 0, 1);
            double extrapolationFactor = 1 - ramp;
            inv[i] = (float)(interpolation * (1 - extrapolationFactor) + extrapolation * extrapolationFactor);
        }
        return inv;
    }

    /// <summary>cos and sin tables [positions, RotaryDim/2], row p holding cos(p·f) and sin(p·f).</summary>
    public (float[] Cos, float[] Sin) Tables(int positions, bool longFactors = false)
    {
        var inv = InverseFrequencies(longFactors);
        int half = inv.Length;
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        float scaling = AttentionScaling;
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = p * inv[i]; // float32 product, as torch computes it
                cos[p * half + i] = (float)Math.Cos(angle) * scaling;
                sin[p * half + i] = (float)Math.Sin(angle) * scaling;
            }
        return (cos, sin);
    }
}
