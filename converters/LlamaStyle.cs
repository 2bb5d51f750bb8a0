using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Converters;

/// <summary>
/// What Llama, Mistral and Qwen checkpoints share: the config field names and the
/// <c>model.layers.{i}.self_attn.q_proj</c> tensor layout. Each family file states only how it differs.
/// </summary>
internal static class LlamaStyle
{
    /// <param name="activation">The MLP's activation when the family reads it itself; null: <c>hidden_act</c> must be silu.</param>
    /// <param name="rotary">The rotary embedding from head_dim when the family parses <c>rope_scaling</c> itself.</param>
    public static ModelDescription Describe(HfConfig c, GenerationConfig g, string genAiType,
        Activation? activation = null, Func<int, RotaryEmbedding>? rotary = null)
    {
        int hidden = c.Int("hidden_size", 1, int.MaxValue);
        int heads = c.Int("num_attention_heads", 1, int.MaxValue);
        int? explicitHeadDim = c.Int("head_dim", null, 1, int.MaxValue);
        if (explicitHeadDim is null && hidden % heads != 0)
            throw c.Invalid("num_attention_heads", $"({heads}) must divide hidden_size ({hidden}) when head_dim is not given");
        int headDim = explicitHeadDim ?? hidden / heads;
        string act = c.String("hidden_act") ?? "silu";
        if (activation is null && act != "silu")
            throw c.Invalid("hidden_act", $"is '{act}'; this family supports 'silu'");
        int kvHeads = c.Int("num_key_value_heads", heads, 1, int.MaxValue)!.Value;
        if (heads % kvHeads != 0)
            throw c.Invalid("num_key_value_heads", $"({kvHeads}) must divide num_attention_heads ({heads})");

        return new ModelDescription
        {
            Architecture = c.Architecture,
            GenAiType = genAiType,
            VocabSize = c.Int("vocab_size", 1, int.MaxValue),
            HiddenSize = hidden,
            IntermediateSize = c.Int("intermediate_size", 1, int.MaxValue),
            NumLayers = c.Int("num_hidden_layers", 1, int.MaxValue),
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            ContextLength = c.Int("max_position_embeddings", 1, int.MaxValue),
            Norm = NormKind.RmsNorm,
            NormEpsilon = (float)c.Positive("rms_norm_eps", 1e-6)!.Value,
            Activation = activation ?? Activation.Silu,
            Rotary = rotary is null ? RopeScalingParser.Parse(c, headDim) : rotary(headDim),
            TiedEmbeddings = c.Bool("tie_word_embeddings", false),
            BosTokenIds = g.BosTokenIds.Length > 0 ? g.BosTokenIds : c.Ids("bos_token_id"),
            EosTokenIds = g.EosTokenIds.Length > 0 ? g.EosTokenIds : c.Ids("eos_token_id"),
            PadTokenId = g.PadTokenId ?? c.Ids("pad_token_id").FirstOrDefault() as int?,
        };
    }

    /// <summary>
    /// Llama's tensor names. A family with other names for a few weights adjusts the result
    /// (<c>layer with { ... }</c>), as Phi-3 does for its fused projections.
    /// </summary>
    public static DecoderWeights Weights(ModelDescription m, bool qkvBias = false, bool outputBias = false,
        bool mlpBias = false, bool qkNorm = false)
    {
        static WeightRef W(string name) => new(name);
        LinearWeights Linear(string prefix, bool bias) =>
            new(W(prefix + ".weight"), bias ? W(prefix + ".bias") : null);

        var layers = Enumerable.Range(0, m.NumLayers).Select(i =>
        {
            string p = $"model.layers.{i}";
            return new LayerWeights
            {
                AttentionNorm = new NormWeights(W($"{p}.input_layernorm.weight")),
                Q = Linear($"{p}.self_attn.q_proj", qkvBias),
                K = Linear($"{p}.self_attn.k_proj", qkvBias),
                V = Linear($"{p}.self_attn.v_proj", qkvBias),
                O = Linear($"{p}.self_attn.o_proj", outputBias),
                QNorm = qkNorm ? new NormWeights(W($"{p}.self_attn.q_norm.weight")) : null,
                KNorm = qkNorm ? new NormWeights(W($"{p}.self_attn.k_norm.weight")) : null,
                MlpNorm = new NormWeights(W($"{p}.post_attention_layernorm.weight")),
                Gate = Linear($"{p}.mlp.gate_proj", mlpBias),
                Up = Linear($"{p}.mlp.up_proj", mlpBias),
                Down = Linear($"{p}.mlp.down_proj", mlpBias),
            };
        }).ToList();

        return new DecoderWeights
        {
            TokenEmbedding = W("model.embed_tokens.weight"),
            Layers = layers,
            FinalNorm = new NormWeights(W("model.norm.weight")),
            LmHead = m.TiedEmbeddings ? null : new LinearWeights(W("lm_head.weight")),
        };
    }
}
