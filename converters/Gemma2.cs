using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Converters;

/// <summary>
/// Gemma 2: Gemma plus norms after attention and after the MLP (four per layer), soft-capped attention scores
/// and logits, scores scaled by query_pre_attn_scalar^-½, and a sliding window on the even layers.
/// </summary>
public sealed class Gemma2 : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["Gemma2ForCausalLM"];

    public ModelDescription Describe(HfConfig config, GenerationConfig generation)
    {
        var model = Gemma.Common(config, generation, "gemma2");
        double queryScalar = config.Positive("query_pre_attn_scalar", 256)!.Value;
        int? window = Defaulted(config, "sliding_window", 4096, (f, d) => config.Int(f, d, 1, int.MaxValue));
        return model with
        {
            AttentionScale = (float)Math.Pow(queryScalar, -0.5),
            AttentionSoftcap = (float?)Defaulted(config, "attn_logit_softcapping", 50.0, config.Positive),
            FinalLogitSoftcap = (float?)Defaulted(config, "final_logit_softcapping", 30.0, config.Positive),
            // transformers 4.46: Gemma2Attention.sliding_window = config.sliding_window if not bool(layer_idx % 2).
            SlidingWindow = window,
            SlidingWindowLayers = window is null ? null : Enumerable.Range(0, model.NumLayers).Where(i => i % 2 == 0).ToArray(),
        };
    }

    /// <summary>Gemma2Config's default when the field is absent; an explicit null switches the feature off.</summary>
    private static T? Defaulted<T>(HfConfig c, string field, T fallback, Func<string, T?, T?> read) where T : struct =>
        c.Root.ContainsKey(field) ? read(field, null) : fallback;

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config)
    {
        var weights = LlamaStyle.Weights(model, qkvBias: config.Bool("attention_bias", false), outputBias: config.Bool("attention_bias", false));
        var layers = weights.Layers.Select((layer, i) =>
        {
            string p = $"model.layers.{i}";
            return layer with
            {
                PostAttentionNorm = new NormWeights(new WeightRef($"{p}.post_attention_layernorm.weight")),
                MlpNorm = new NormWeights(new WeightRef($"{p}.pre_feedforward_layernorm.weight")),
                PostMlpNorm = new NormWeights(new WeightRef($"{p}.post_feedforward_layernorm.weight")),
            };
        }).ToList();
        return weights with { Layers = layers };
    }
}
