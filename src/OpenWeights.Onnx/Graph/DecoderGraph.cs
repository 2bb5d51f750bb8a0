using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Graph;

/// <summary>
/// The whole decoder-only transformer, top to bottom, as one ONNX graph in onnxruntime-genai's
/// conventions: <c>input_ids</c>, <c>attention_mask</c> and <c>past_key_values.{i}.key|value</c> in;
/// <c>logits</c> and <c>present.{i}.key|value</c> out. Attention is <c>GroupQueryAttention</c> with fused
/// rotary; norms are the fused (Skip)SimplifiedLayerNormalization pair, so each residual add rides on a norm.
/// </summary>
public sealed class DecoderGraph(ModelDescription model, DecoderWeights weights, InitializerStore store, IWeightFormat format)
{
    private readonly GraphBuilder _g = store.Graph;
    private DataType Compute => store.Compute;

    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string Logits = "logits";
    public static string PastKey(int layer) => $"past_key_values.{layer}.key";
    public static string PastValue(int layer) => $"past_key_values.{layer}.value";
    public static string PresentKey(int layer) => $"present.{layer}.key";
    public static string PresentValue(int layer) => $"present.{layer}.value";

    public void Build()
    {
        DeclareInputsAndOutputs();
        var (seqlensK, totalLength) = AttentionLengths();
        var (cos, sin) = RotaryTables();

        string x = Embed();
        var layers = weights.Layers;
        string h = Norm(x, layers[0].AttentionNorm, "layers.0.attn_norm");
        string residual = x;
        for (int i = 0; i < model.NumLayers; i++)
        {
            var layer = layers[i];
            string attention = Attention(h, layer, i, seqlensK, totalLength, cos, sin);
            (h, residual) = SkipNorm(attention, residual, layer.MlpNorm, $"layers.{i}.mlp_norm");
            string mlp = Mlp(h, layer, i);
            bool last = i == model.NumLayers - 1;
            (h, residual) = SkipNorm(mlp, residual,
                last ? weights.FinalNorm : layers[i + 1].AttentionNorm,
                last ? "final_norm" : $"layers.{i + 1}.attn_norm");
        }
        LmHead(h);
    }

    private void DeclareInputsAndOutputs()
    {
        _g.Input(InputIds, DataType.Int64, "batch_size", "sequence_length");
        _g.Input(AttentionMask, DataType.Int64, "batch_size", "total_sequence_length");
        for (int i = 0; i < model.NumLayers; i++)
        {
            _g.Input(PastKey(i), Compute, "batch_size", model.NumKvHeads, "past_sequence_length", model.HeadDim);
            _g.Input(PastValue(i), Compute, "batch_size", model.NumKvHeads, "past_sequence_length", model.HeadDim);
        }
        _g.Output(Logits, DataType.Float, "batch_size", "sequence_length", model.VocabSize);
        for (int i = 0; i < model.NumLayers; i++)
        {
            _g.Output(PresentKey(i), Compute, "batch_size", model.NumKvHeads, "total_sequence_length", model.HeadDim);
            _g.Output(PresentValue(i), Compute, "batch_size", model.NumKvHeads, "total_sequence_length", model.HeadDim);
        }
    }

    /// <summary>
    /// GroupQueryAttention wants, per row, the index of its last real token (sum(mask) − 1) and the longest
    /// row's total length. Taking both from the mask's contents rather than its shape is what makes
    /// right-padded batches work, and lets a runtime keep one fixed-width mask buffer for a whole
    /// generation (onnxruntime-genai's growing mask gives the same values: its longest row fills the width).
    /// </summary>
    private (string SeqlensK, string TotalLength) AttentionLengths()
    {
        string sum = _g.Op("ReduceSum", "attn_lengths/ReduceSum", [AttentionMask, _g.Int64s(1)], Attr.Int("keepdims", 0));
        string last = _g.Op("Sub", "attn_lengths/Sub", [sum, _g.Int64s(1)]);
        string seqlensK = _g.Op("Cast", "attn_lengths/seqlens_k", [last], Attr.Int("to", (long)DataType.Int32));
        string longest = _g.Op("ReduceMax", "attn_lengths/ReduceMax", [sum], Attr.Int("keepdims", 0));
        string total = _g.Op("Cast", "attn_lengths/total_sequence_length", [longest], Attr.Int("to", (long)DataType.Int32));
        return (seqlensK, total);
    }

    private (string? Cos, string? Sin) RotaryTables()
    {
        if (model.Rotary is null)
            return (null, null);
        var (cos, sin) = model.Rotary.Tables(model.ContextLength);
        long half = model.Rotary.RotaryDim / 2;
        return (store.Floats("rotary.cos_cache", cos, model.ContextLength, half),
                store.Floats("rotary.sin_cache", sin, model.ContextLength, half));
    }

    private string Embed()
    {
        string x = format.Embed(InputIds, weights.TokenEmbedding, "embed_tokens", model.VocabSize, model.HiddenSize);
        if (model.EmbeddingMultiplier is { } m)
            x = _g.Op("Mul", "embed_tokens/scale", [x, store.Floats("embed_tokens.multiplier", [m])]);
        return x;
    }

    private string Attention(string h, LayerWeights layer, int i, string seqlensK, string totalLength, string? cos, string? sin)
    {
        string name = $"layers.{i}.attn";
        string q = format.Linear(h, layer.Q, name + ".q_proj", model.QSize, model.HiddenSize);
        string k = format.Linear(h, layer.K, name + ".k_proj", model.KvSize, model.HiddenSize);
        string v = format.Linear(h, layer.V, name + ".v_proj", model.KvSize, model.HiddenSize);
        if (layer.QNorm is not null)
            q = HeadNorm(q, layer.QNorm, name + ".q_norm", model.NumHeads);
        if (layer.KNorm is not null)
            k = HeadNorm(k, layer.KNorm, name + ".k_norm", model.NumKvHeads);

        var attributes = new List<Attr>
        {
            Attr.Int("num_heads", model.NumHeads),
            Attr.Int("kv_num_heads", model.NumKvHeads),
            Attr.Int("do_rotary", cos is null ? 0 : 1),
            Attr.Int("rotary_interleaved", 0),
        };
        if (model.AttentionScale is { } scale)
            attributes.Add(Attr.Float("scale", scale));
        if (model.SlidingWindow is { } window)
            attributes.Add(Attr.Int("local_window_size", window));

        string[] outputs = _g.OpMulti("GroupQueryAttention", name + "/GroupQueryAttention",
            [q, k, v, PastKey(i), PastValue(i), seqlensK, totalLength, cos ?? "", sin ?? ""],
            [name + "/GroupQueryAttention/out", PresentKey(i), PresentValue(i)],
            GraphBuilder.MicrosoftDomain, attributes.ToArray());
        return format.Linear(outputs[0], layer.O, name + ".o_proj", model.HiddenSize, model.QSize);
    }

    /// <summary>RMSNorm over each head's vector (Qwen3's q_norm/k_norm): reshape to heads, norm, reshape back.</summary>
    private string HeadNorm(string x, NormWeights w, string name, int heads)
    {
        string perHead = _g.Op("Reshape", name + "/Reshape", [x, _g.Int64s(0, 0, heads, model.HeadDim)]);
        string normed = Norm(perHead, w, name, model.HeadDim);
        return _g.Op("Reshape", name + "/Reshape_back", [normed, _g.Int64s(0, 0, heads * model.HeadDim)]);
    }

    private string Mlp(string h, LayerWeights layer, int i)
    {
        string name = $"layers.{i}.mlp";
        string up = format.Linear(h, layer.Up, name + ".up_proj", model.IntermediateSize, model.HiddenSize);
        string activated;
        if (layer.Gate is not null)
        {
            string gate = format.Linear(h, layer.Gate, name + ".gate_proj", model.IntermediateSize, model.HiddenSize);
            activated = _g.Op("Mul", name + "/gate_mul", [Activate(gate, name + "/act"), up]);
        }
        else
        {
            activated = Activate(up, name + "/act");
        }
        return format.Linear(activated, layer.Down, name + ".down_proj", model.HiddenSize, model.IntermediateSize);
    }

    private string Activate(string x, string name) => model.Activation switch
    {
        Activation.Silu => _g.Op("Mul", name + "/Mul", [x, _g.Op("Sigmoid", name + "/Sigmoid", [x])]),
        Activation.GeluTanh => _g.Op("Gelu", name + "/Gelu", [x], Attr.String("approximate", "tanh")),
        Activation.Gelu => _g.Op("Gelu", name + "/Gelu", [x]),
        _ => throw new NotSupportedException(model.Activation.ToString()),
    };

    private string Norm(string x, NormWeights w, string name, int? width = null)
    {
        int n = width ?? model.HiddenSize;
        string scale = NormScale(w, name, n);
        if (model.Norm == NormKind.LayerNorm)
            return _g.Op("LayerNormalization", name + "/LayerNorm",
                [x, scale, store.Vector(w.Bias!, name + ".bias", n)],
                Attr.Int("axis", -1), Attr.Float("epsilon", model.NormEpsilon));
        return _g.Op("SimplifiedLayerNormalization", name + "/SimplifiedLayerNorm", [x, scale],
            Attr.Int("axis", -1), Attr.Float("epsilon", model.NormEpsilon), Attr.Int("stash_type", 1));
    }

    /// <summary>norm(x + skip), also returning x + skip as the next residual.</summary>
    private (string Normed, string Residual) SkipNorm(string x, string skip, NormWeights w, string name)
    {
        string scale = NormScale(w, name, model.HiddenSize);
        bool layerNorm = model.Norm == NormKind.LayerNorm;
        string op = layerNorm ? "SkipLayerNormalization" : "SkipSimplifiedLayerNormalization";
        string[] inputs = layerNorm ? [x, skip, scale, store.Vector(w.Bias!, name + ".bias", model.HiddenSize)] : [x, skip, scale];
        var outputs = _g.OpMulti(op, name + "/" + op, inputs, [name + "/out", "", "", name + "/residual"],
            GraphBuilder.MicrosoftDomain, Attr.Float("epsilon", model.NormEpsilon));
        return (outputs[0], outputs[3]);
    }

    private string NormScale(NormWeights w, string name, int width) =>
        store.Vector(w.Weight, name + ".weight", width, model.Norm == NormKind.RmsNormPlusOne ? 1f : 0f);

    private void LmHead(string h)
    {
        string logits = weights.LmHead is { } head
            ? format.Linear(h, head, "lm_head", model.VocabSize, model.HiddenSize)
            : format.TiedHead(h, "lm_head", model.VocabSize, model.HiddenSize);
        string cast = Compute == DataType.Float ? logits : _g.Op("Cast", "lm_head/cast", [logits], Attr.Int("to", (long)DataType.Float));
        _g.OpMulti("Identity", "logits/Identity", [cast], [Logits]);
    }
}
