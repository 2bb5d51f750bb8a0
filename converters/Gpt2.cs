using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Converters;

/// <summary>
/// GPT-2: LayerNorm with bias, learned absolute positions, multi-head attention without rotary, a GeLU (tanh)
/// MLP without gate, and Conv1D weights stored [in, out] with q, k and v fused along the output axis of
/// <c>c_attn</c>. The head is tied to the token embeddings.
/// </summary>
public sealed class Gpt2 : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["GPT2LMHeadModel"];

    /// <summary>
    /// onnxruntime-genai's "gpt2" type drives a combined past_%d/present_%d KV cache, not this graph's separate
    /// key/value inputs; its generic decoder-only type runs the graph as it is.
    /// </summary>
    public const string GenAiType = "decoder";

    public ModelDescription Describe(HfConfig c, GenerationConfig g)
    {
        int hidden = c.Int("n_embd", 1, int.MaxValue);
        int heads = c.Int("n_head", 1, int.MaxValue);
        if (hidden % heads != 0)
            throw c.Invalid("n_head", $"({heads}) must be positive and divide n_embd ({hidden})");
        string act = c.String("activation_function") ?? "gelu_new";
        var activation = act switch
        {
            "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => Activation.GeluTanh,
            "gelu" => Activation.Gelu,
            _ => throw c.Invalid("activation_function", $"is '{act}'; this family supports gelu_new and gelu"),
        };
        if (c.Bool("scale_attn_by_inverse_layer_idx", false))
            throw c.Invalid("scale_attn_by_inverse_layer_idx", "is true, which is not supported");
        if (c.Bool("add_cross_attention", false))
            throw c.Invalid("add_cross_attention", "is true; only decoder-only GPT-2 is supported");

        return new ModelDescription
        {
            Architecture = c.Architecture,
            GenAiType = GenAiType,
            VocabSize = c.Int("vocab_size", 1, int.MaxValue),
            HiddenSize = hidden,
            IntermediateSize = c.Int("n_inner", null, 1, int.MaxValue) ?? checked(4 * hidden),
            NumLayers = c.Int("n_layer", 1, int.MaxValue),
            NumHeads = heads,
            NumKvHeads = heads,
            HeadDim = hidden / heads,
            ContextLength = c.Int("n_positions", 1, int.MaxValue),
            Norm = NormKind.LayerNorm,
            NormEpsilon = (float)c.Positive("layer_norm_epsilon", 1e-5)!.Value,
            Activation = activation,
            GatedMlp = false,
            Rotary = null,
            LearnedPositions = true,
            TiedEmbeddings = true,
            AttentionScale = c.Bool("scale_attn_weights", true) ? null : 1f,
            BosTokenIds = g.BosTokenIds.Length > 0 ? g.BosTokenIds : c.Ids("bos_token_id"),
            EosTokenIds = g.EosTokenIds.Length > 0 ? g.EosTokenIds : c.Ids("eos_token_id"),
            PadTokenId = g.PadTokenId ?? c.Ids("pad_token_id").FirstOrDefault() as int?,
        };
    }

    public DecoderWeights MapWeights(ModelDescription m, HfConfig config) => MapWeights(m, config, _ => true);

    /// <summary>GPT2LMHeadModel saves names under <c>transformer.</c>; the original GPT-2 uploads (GPT2Model) do not.</summary>
    public DecoderWeights MapWeights(ModelDescription m, HfConfig config, Func<string, bool> hasTensor)
    {
        string root = hasTensor("transformer.wte.weight") || !hasTensor("wte.weight") ? "transformer." : "";
        // Conv1D: y = x·W + b with W stored [in, out], so output "rows" are columns of the stored tensor.
        WeightRef Conv(string name) => new(root + name, StoredInputMajor: true);
        WeightRef W(string name) => new(root + name);
        NormWeights LayerNorm(string prefix) => new(W(prefix + ".weight"), W(prefix + ".bias"));

        var layers = Enumerable.Range(0, m.NumLayers).Select(i =>
        {
            string p = $"h.{i}";
            var qkv = Conv($"{p}.attn.c_attn.weight");
            var qkvBias = W($"{p}.attn.c_attn.bias");
            LinearWeights Part(int index) => new(qkv.Rows(index * m.HiddenSize, m.HiddenSize), qkvBias.Rows(index * m.HiddenSize, m.HiddenSize));
            return new LayerWeights
            {
                AttentionNorm = LayerNorm($"{p}.ln_1"),
                Q = Part(0),
                K = Part(1),
                V = Part(2),
                O = new LinearWeights(Conv($"{p}.attn.c_proj.weight"), W($"{p}.attn.c_proj.bias")),
                MlpNorm = LayerNorm($"{p}.ln_2"),
                Gate = null,
                Up = new LinearWeights(Conv($"{p}.mlp.c_fc.weight"), W($"{p}.mlp.c_fc.bias")),
                Down = new LinearWeights(Conv($"{p}.mlp.c_proj.weight"), W($"{p}.mlp.c_proj.bias")),
            };
        }).ToList();

        return new DecoderWeights
        {
            TokenEmbedding = W("wte.weight"),
            PositionEmbedding = W("wpe.weight"),
            Layers = layers,
            FinalNorm = LayerNorm("ln_f"),
            LmHead = null,
        };
    }
}
