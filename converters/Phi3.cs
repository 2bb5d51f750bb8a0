using System.Text.Json.Nodes;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Converters;

/// <summary>
/// Phi-3/3.5/4-mini: Llama's computation with q, k and v fused in <c>qkv_proj</c> (rows q, then k, then v) and
/// gate and up fused in <c>gate_up_proj</c> (gate rows first); optional partial rotary, LongRoPE scaling and a
/// sliding window.
/// </summary>
public sealed class Phi3 : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["Phi3ForCausalLM"];

    public ModelDescription Describe(HfConfig config, GenerationConfig generation) =>
        LlamaStyle.Describe(config, generation, "phi3", rotary: headDim => Rotary(config, headDim)) with
        {
            SlidingWindow = config.Int("sliding_window", null, 1, int.MaxValue),
        };

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config)
    {
        var weights = LlamaStyle.Weights(model);
        var layers = weights.Layers.Select((layer, i) =>
        {
            var qkv = new WeightRef($"model.layers.{i}.self_attn.qkv_proj.weight");
            var gateUp = new WeightRef($"model.layers.{i}.mlp.gate_up_proj.weight");
            return layer with
            {
                Q = new LinearWeights(qkv.Rows(0, model.QSize)),
                K = new LinearWeights(qkv.Rows(model.QSize, model.KvSize)),
                V = new LinearWeights(qkv.Rows(model.QSize + model.KvSize, model.KvSize)),
                Gate = new LinearWeights(gateUp.Rows(0, model.IntermediateSize)),
                Up = new LinearWeights(gateUp.Rows(model.IntermediateSize, model.IntermediateSize)),
            };
        }).ToList();
        return weights with { Layers = layers };
    }

    /// <summary>
    /// transformers' Phi-3 accepts only LongRoPE (<c>longrope</c>, formerly <c>su</c> or <c>yarn</c>): short and long
    /// per-dimension factors, switching when the sequence outgrows <c>original_max_position_embeddings</c>, and
    /// cos/sin scaled by √(1 + ln(max/original) / ln(original)) unless <c>attention_factor</c> is given.
    /// </summary>
    internal static RotaryEmbedding Rotary(HfConfig c, int headDim)
    {
        var plain = RopeScalingParser.Unscaled(c, headDim);
        var s = c.Section("rope_scaling");
        if (s is null)
            return plain;
        string type = RopeScalingParser.Type(s, "type", "rope_type");
        if (type == "default")
            return plain;
        if (type is not ("longrope" or "su" or "yarn"))
            throw c.Invalid("rope_scaling",
                $"has type '{type}', which is not supported for {c.Architecture} (supported: longrope, also written 'su' or 'yarn' by older checkpoints)");

        int half = plain.RotaryDim / 2;
        float[] Factors(string field)
        {
            if (s.Root[field] is not JsonArray a)
                throw s.Invalid(field, $"must be a list of {half} numbers for type '{type}', found {(s.Root[field] is { } n ? n.ToJsonString() : "nothing")}");
            if (a.Count != half)
                throw s.Invalid(field, $"has {a.Count} values; the rotary dimension {plain.RotaryDim} needs {half}");
            return a.Select((x, i) => x is JsonValue v && v.TryGetValue(out double d) && double.IsFinite(d) && d > 0
                ? (float)d
                : throw s.Invalid(field, $"value {i} is {x?.ToJsonString() ?? "null"}; every factor must be a finite number > 0")).ToArray();
        }

        int max = c.Int("max_position_embeddings", 1, int.MaxValue);
        int? configOriginal = c.Int("original_max_position_embeddings", null, 1, int.MaxValue);
        int original = configOriginal ?? s.Int("original_max_position_embeddings", null, 1, int.MaxValue) ?? max;
        double factor = configOriginal is not null ? (double)max / original : s.Positive("factor", 1.0)!.Value;
        double attention = s.Positive("attention_factor", null)
                           ?? (factor <= 1.0 ? 1.0 : Math.Sqrt(1 + Math.Log(factor) / Math.Log(original)));
        if (!double.IsFinite(attention))
            throw c.Invalid("original_max_position_embeddings", $"is {original}, which gives no finite LongRoPE attention factor");
        return plain with { Scaling = new RopeScaling.LongRope(Factors("short_factor"), Factors("long_factor"), original, attention) };
    }
}
