using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Graph;

/// <summary>
/// The whole decoder-only transformer, top to bottom, as one ONNX graph with the inputs and outputs of
/// <see cref="DecoderIo"/> (onnxruntime-genai's conventions). Attention is <c>GroupQueryAttention</c> with fused
/// rotary; norms are the fused (Skip)SimplifiedLayerNormalization pair, so each residual add rides on a norm.
/// </summary>
public sealed class DecoderGraph(ModelDescription model, DecoderWeights weights, InitializerStore store, IWeightFormat format,
    DecoderGraphOptions? options = null)
{
    private readonly DecoderGraphOptions _options = options ?? new();
    private readonly GraphBuilder _g = store.Graph;
    private DataType Compute => store.Compute;

    /// <summary>Node-name prefix of the LM head (inspection groups nodes by it).</summary>
    public const string LmHeadName = "lm_head";

    public void Build()
    {
        CheckAttentionShape();
        DeclareInputsAndOutputs();
        var (seqlensK, totalLength, longest, lengths) = AttentionLengths();
        var (cos, sin) = RotaryTables(longest);

        string x = Embed(lengths);
        var layers = weights.Layers;
        string h = Norm(x, layers[0].AttentionNorm, "layers.0.attn_norm");
        string residual = x;
        for (int i = 0; i < model.NumLayers; i++)
        {
            var layer = layers[i];
            string attention = Attention(h, layer, i, seqlensK, totalLength, cos, sin);
            if (layer.PostAttentionNorm is { } postAttention)
                attention = Norm(attention, postAttention, $"layers.{i}.post_attn_norm");
            (h, residual) = SkipNorm(attention, residual, layer.MlpNorm, $"layers.{i}.mlp_norm");
            string mlp = Mlp(h, layer, i);
            if (layer.PostMlpNorm is { } postMlp)
                mlp = Norm(mlp, postMlp, $"layers.{i}.post_mlp_norm");
            bool last = i == model.NumLayers - 1;
            (h, residual) = SkipNorm(mlp, residual,
                last ? weights.FinalNorm : layers[i + 1].AttentionNorm,
                last ? "final_norm" : $"layers.{i + 1}.attn_norm");
        }
        LmHead(_options.Logits == LogitsScope.Last ? LastPositions(h, lengths) : h);
    }

    /// <summary>ONNX Runtime's GroupQueryAttention refuses these at run time; say so before converting.</summary>
    private void CheckAttentionShape()
    {
        int rotaryDim = model.Rotary?.RotaryDim ?? 0;
        bool fits = model.Rotary is null ? model.HeadDim % 8 == 0 : model.HeadDim % 16 == 0 && rotaryDim % 16 == 0;
        if (!fits)
            throw new Checkpoints.CheckpointException(
                $"{model.Architecture}: head_dim {model.HeadDim}" + (model.Rotary is null ? "" : $" with rotary dimension {rotaryDim}") +
                " cannot run in ONNX Runtime's GroupQueryAttention, which needs head_dim a multiple of 8, and with rotary" +
                " head_dim and the rotary dimension multiples of 16.");
    }

    private void DeclareInputsAndOutputs()
    {
        const string batch = DecoderIo.BatchDim;
        _g.Input(DecoderIo.InputIds, (DataType)DecoderIo.IdsType, batch, DecoderIo.SequenceDim);
        _g.Input(DecoderIo.AttentionMask, (DataType)DecoderIo.MaskType, batch, DecoderIo.TotalSequenceDim);
        for (int i = 0; i < model.NumLayers; i++)
        {
            _g.Input(DecoderIo.PastKey(i), Compute, batch, model.NumKvHeads, DecoderIo.PastSequenceDim, model.HeadDim);
            _g.Input(DecoderIo.PastValue(i), Compute, batch, model.NumKvHeads, DecoderIo.PastSequenceDim, model.HeadDim);
        }
        // A static 1 is how onnxruntime-genai recognises last-position logits (its "pruned" models).
        object positions = _options.Logits == LogitsScope.Last ? 1 : DecoderIo.SequenceDim;
        _g.Output(DecoderIo.Logits, (DataType)DecoderIo.LogitsType, batch, positions, model.VocabSize);
        for (int i = 0; i < model.NumLayers; i++)
        {
            _g.Output(DecoderIo.PresentKey(i), Compute, batch, model.NumKvHeads, DecoderIo.TotalSequenceDim, model.HeadDim);
            _g.Output(DecoderIo.PresentValue(i), Compute, batch, model.NumKvHeads, DecoderIo.TotalSequenceDim, model.HeadDim);
        }
    }

    /// <summary>
    /// GroupQueryAttention wants, per row, the index of its last real token (sum(mask) − 1) and the longest
    /// row's total length. Taking both from the mask's contents rather than its shape is what makes
    /// right-padded batches work, and lets a runtime keep one fixed-width mask buffer for a whole
    /// generation (onnxruntime-genai's growing mask gives the same values: its longest row fills the width).
    /// </summary>
    private (string SeqlensK, string TotalLength, string Longest, string Lengths) AttentionLengths()
    {
        string sum = _g.Op("ReduceSum", "attn_lengths/ReduceSum", [DecoderIo.AttentionMask, _g.Int64s(1)], Attr.Int("keepdims", 0));
        string last = _g.Op("Sub", "attn_lengths/Sub", [sum, _g.Int64s(1)]);
        string seqlensK = _g.Op("Cast", "attn_lengths/seqlens_k", [last], Attr.Int("to", (long)DataType.Int32));
        string longest = _g.Op("ReduceMax", "attn_lengths/ReduceMax", [sum], Attr.Int("keepdims", 0));
        string total = _g.Op("Cast", "attn_lengths/total_sequence_length", [longest], Attr.Int("to", (long)DataType.Int32));
        return (seqlensK, total, longest, sum);
    }

    private (string? Cos, string? Sin) RotaryTables(string totalLength)
    {
        if (model.Rotary is null)
            return (null, null);
        if (model.Rotary.SwitchLength is { } switchLength)
            return SwitchedRotaryTables(totalLength, switchLength);
        var (cos, sin) = model.Rotary.Tables(model.ContextLength);
        long half = model.Rotary.RotaryDim / 2;
        return (store.Floats("rotary.cos_cache", cos, model.ContextLength, half),
                store.Floats("rotary.sin_cache", sin, model.ContextLength, half));
    }

    /// <summary>
    /// LongRoPE: short-factor tables for the original length, long-factor tables for the full context, and an
    /// <c>If</c> on total_sequence_length &gt; original length choosing between them (as onnxruntime-genai's
    /// builder does). A cache filled while the short tables applied is not recomputed here: a runtime that
    /// wants transformers' results re-runs the whole sequence once it crosses the original length.
    /// </summary>
    private (string Cos, string Sin) SwitchedRotaryTables(string totalLength, int switchLength)
    {
        var rotary = model.Rotary!;
        long half = rotary.RotaryDim / 2;
        int shortRows = Math.Min(switchLength, model.ContextLength);
        var (shortCos, shortSin) = rotary.Tables(shortRows);
        var (longCos, longSin) = rotary.Tables(model.ContextLength, longFactors: true);
        string sc = store.Floats("rotary.short.cos_cache", shortCos, shortRows, half);
        string ss = store.Floats("rotary.short.sin_cache", shortSin, shortRows, half);
        string lc = store.Floats("rotary.long.cos_cache", longCos, model.ContextLength, half);
        string ls = store.Floats("rotary.long.sin_cache", longSin, model.ContextLength, half);

        string isLong = _g.Op("Greater", "rotary/use_long", [totalLength, _g.Int64Scalar(switchLength)]);
        Onnx.Proto.GraphProto Branch(string name, string cos, string sin)
        {
            var branch = new Onnx.Proto.GraphProto { Name = name };
            foreach (var (source, output) in new[] { (cos, name + "/cos"), (sin, name + "/sin") })
            {
                branch.Node.Add(new Onnx.Proto.NodeProto { OpType = "Identity", Name = output + "/Identity", Input = { source }, Output = { output } });
                branch.Output.Add(GraphBuilder.ValueInfo(output, Compute, ["rotary_positions", (int)half]));
            }
            return branch;
        }
        var outputs = _g.OpMulti("If", "rotary/If", [isLong], ["rotary/cos_cache", "rotary/sin_cache"], "",
            Attr.Graph("then_branch", Branch("rotary_long", lc, ls)),
            Attr.Graph("else_branch", Branch("rotary_short", sc, ss)));
        return (outputs[0], outputs[1]);
    }

    private string Embed(string lengths)
    {
        string x = format.Embed(DecoderIo.InputIds, weights.TokenEmbedding, "embed_tokens", model.VocabSize, model.HiddenSize);
        if (model.EmbeddingMultiplier is { } m)
            x = _g.Op("Mul", "embed_tokens/scale", [x, store.Floats("embed_tokens.multiplier", [m])]);
        if (weights.PositionEmbedding is { } positions)
            x = _g.Op("Add", "embed_positions/Add", [x, EmbedPositions(positions, lengths)]);
        return x;
    }

    /// <summary>
    /// Learned positions for the new tokens: each row's past length is its real length (sum of its mask) minus
    /// the new tokens, at least 0, and the new tokens follow it. Unlike cumsum over the mask's last columns, this
    /// holds for right-padded batches and for a fixed-width mask, the conventions GroupQueryAttention uses.
    /// </summary>
    private string EmbedPositions(WeightRef table, string lengths)
    {
        const string name = "embed_positions";
        string newTokens = _g.Op("Shape", name + "/Shape", [DecoderIo.InputIds], Attr.Int("start", 1), Attr.Int("end", 2));
        string past = _g.Op("Max", name + "/Max", [_g.Op("Sub", name + "/Sub", [lengths, newTokens]), _g.Int64s(0)]);
        string pastColumn = _g.Op("Unsqueeze", name + "/Unsqueeze", [past, _g.Int64s(1)]);
        string count = _g.Op("Squeeze", name + "/Squeeze", [newTokens, _g.Int64s(0)]);
        string offsets = _g.Op("Range", name + "/Range", [_g.Int64Scalar(0), count, _g.Int64Scalar(1)]);
        string positions = _g.Op("Add", name + "/Positions", [pastColumn, offsets]);
        string weight = store.Matrix(table, name + ".weight", model.ContextLength, model.HiddenSize, inputMajor: false);
        return _g.Op("Gather", name + "/Gather", [weight, positions]);
    }

    private string Attention(string h, LayerWeights layer, int i, string seqlensK, string totalLength, string? cos, string? sin)
    {
        string name = $"layers.{i}.attn";
        string q, k, v;
        if (_options.PackProjections)
        {
            string qkv = format.PackedLinear(h,
                [new(layer.Q, name + ".q_proj", model.QSize), new(layer.K, name + ".k_proj", model.KvSize), new(layer.V, name + ".v_proj", model.KvSize)],
                name + ".qkv_proj", model.HiddenSize);
            // GroupQueryAttention takes q, k and v packed in its query input (key and value left empty); the
            // per-head norms need them apart.
            if (layer.QNorm is null && layer.KNorm is null)
                (q, k, v) = (qkv, "", "");
            else
                (q, k, v) = Split3(qkv, name + ".qkv_proj/Split", model.QSize, model.KvSize, model.KvSize);
        }
        else
        {
            q = format.Linear(h, layer.Q, name + ".q_proj", model.QSize, model.HiddenSize);
            k = format.Linear(h, layer.K, name + ".k_proj", model.KvSize, model.HiddenSize);
            v = format.Linear(h, layer.V, name + ".v_proj", model.KvSize, model.HiddenSize);
        }
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
        // ONNX Runtime 1.31's GroupQueryAttention (CPU) lets a query see local_window_size keys, its own
        // included: transformers' window exactly (checked by the sliding-window tests; older releases saw one more).
        if (model.UsesSlidingWindow(i))
            attributes.Add(Attr.Int("local_window_size", model.SlidingWindow!.Value));
        if (model.AttentionSoftcap is { } softcap)
            attributes.Add(Attr.Float("softcap", softcap));

        string[] outputs = _g.OpMulti("GroupQueryAttention", name + "/GroupQueryAttention",
            [q, k, v, DecoderIo.PastKey(i), DecoderIo.PastValue(i), seqlensK, totalLength, cos ?? "", sin ?? ""],
            [name + "/GroupQueryAttention/out", DecoderIo.PresentKey(i), DecoderIo.PresentValue(i)],
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
        if (layer.Experts is { } experts)
            return new MixtureOfExpertsMlp(model, store, format, _options.DenseExperts).Build(h, experts, $"layers.{i}.moe");
        string name = $"layers.{i}.mlp";
        if (layer.Up is null || layer.Down is null)
            throw new InvalidOperationException($"layer {i}: a dense MLP needs Up and Down weights (or Experts for a mixture of experts).");
        int inter = model.IntermediateSize;
        string activated;
        if (layer.Gate is null)
        {
            activated = Activate(format.Linear(h, layer.Up, name + ".up_proj", inter, model.HiddenSize), name + "/act");
        }
        else
        {
            string gate, up;
            PackedPart[] parts = [new(layer.Gate, name + ".gate_proj", inter), new(layer.Up, name + ".up_proj", inter)];
            if (_options.PackProjections)
            {
                var halves = _g.OpMulti("Split", name + ".gate_up_proj/Split",
                    [format.PackedLinear(h, parts, name + ".gate_up_proj", model.HiddenSize), _g.Int64s(inter, inter)],
                    [name + ".gate_up_proj/gate", name + ".gate_up_proj/up"], "", Attr.Int("axis", -1));
                (gate, up) = (halves[0], halves[1]);
            }
            else
            {
                up = format.Linear(h, layer.Up, name + ".up_proj", inter, model.HiddenSize);
                gate = format.Linear(h, layer.Gate, name + ".gate_proj", inter, model.HiddenSize);
            }
            activated = _g.Op("Mul", name + "/gate_mul", [Activate(gate, name + "/act"), up]);
        }
        return format.Linear(activated, layer.Down, name + ".down_proj", model.HiddenSize, model.IntermediateSize);
    }

    private (string, string, string) Split3(string x, string name, long a, long b, long c)
    {
        var outputs = _g.OpMulti("Split", name, [x, _g.Int64s(a, b, c)], [name + "/0", name + "/1", name + "/2"], "", Attr.Int("axis", -1));
        return (outputs[0], outputs[1], outputs[2]);
    }

    internal static string Activate(GraphBuilder g, ModelDescription model, string x, string name) => model.Activation switch
    {
        Activation.Silu => g.Op("Mul", name + "/Mul", [x, g.Op("Sigmoid", name + "/Sigmoid", [x])]),
        Activation.GeluTanh => g.Op("Gelu", name + "/Gelu", [x], Attr.String("approximate", "tanh")),
        Activation.Gelu => g.Op("Gelu", name + "/Gelu", [x]),
        _ => throw new NotSupportedException(model.Activation.ToString()),
    };

    private string Activate(string x, string name) => Activate(_g, model, x, name);

    private string Norm(string x, NormWeights w, string name, int? width = null)
    {
        int n = width ?? model.HiddenSize;
        string scale = NormScale(w, name, n);
        if (_options.PrimitiveNorms && model.Norm != NormKind.LayerNorm)
            return PrimitiveRmsNorm(x, scale, name);
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
        if (_options.PrimitiveNorms)
        {
            string sum = _g.Op("Add", name + "/residual", [x, skip]);
            return (Norm(sum, w, name), sum);
        }
        string scale = NormScale(w, name, model.HiddenSize);
        bool layerNorm = model.Norm == NormKind.LayerNorm;
        string op = layerNorm ? "SkipLayerNormalization" : "SkipSimplifiedLayerNormalization";
        string[] inputs = layerNorm ? [x, skip, scale, store.Vector(w.Bias!, name + ".bias", model.HiddenSize)] : [x, skip, scale];
        var outputs = _g.OpMulti(op, name + "/" + op, inputs, [name + "/out", "", "", name + "/residual"],
            GraphBuilder.MicrosoftDomain, Attr.Float("epsilon", model.NormEpsilon));
        return (outputs[0], outputs[3]);
    }

    /// <summary>
    /// x / sqrt(mean(x²) + ε) · w in standard ops, the statistics in float32 as transformers computes them
    /// (and as the fused op's stash_type does): in fp16, x² overflows once |x| exceeds 256.
    /// </summary>
    private string PrimitiveRmsNorm(string x, string scale, string name)
    {
        bool narrow = Compute != DataType.Float;
        string wide = narrow ? _g.Op("Cast", name + "/to_float", [x], Attr.Int("to", (long)DataType.Float)) : x;
        string square = _g.Op("Mul", name + "/Square", [wide, wide]);
        string mean = _g.Op("ReduceMean", name + "/ReduceMean", [square, _g.Int64s(-1)], Attr.Int("keepdims", 1));
        string root = _g.Op("Sqrt", name + "/Sqrt", [_g.Op("Add", name + "/AddEps", [mean, _g.FloatScalar(model.NormEpsilon)])]);
        string normed = _g.Op("Div", name + "/Div", [wide, root]);
        if (narrow)
            normed = _g.Op("Cast", name + "/to_compute", [normed], Attr.Int("to", (long)Compute));
        return _g.Op("Mul", name + "/Scale", [normed, scale]);
    }

    private string NormScale(NormWeights w, string name, int width) =>
        store.Vector(w.Weight, name + ".weight", width, model.Norm == NormKind.RmsNormPlusOne ? 1f : 0f);

    /// <summary>
    /// Each row's last real position, [b, 1, hidden]: min(real length, new tokens) − 1. A right-padded prefill
    /// row ends at its length; a row continuing a cache (or decoding) ends at the last new token.
    /// </summary>
    private string LastPositions(string h, string lengths)
    {
        const string name = "last_position";
        string newTokens = _g.Op("Shape", name + "/Shape", [DecoderIo.InputIds], Attr.Int("start", 1), Attr.Int("end", 2));
        string last = _g.Op("Sub", name + "/Sub", [_g.Op("Min", name + "/Min", [lengths, newTokens]), _g.Int64s(1)]);
        string column = _g.Op("Unsqueeze", name + "/Unsqueeze", [last, _g.Int64s(1, 2)]);
        string index = _g.Op("Expand", name + "/Expand", [column, _g.Int64s(1, 1, model.HiddenSize)]);
        return _g.Op("GatherElements", name + "/GatherElements", [h, index], Attr.Int("axis", 1));
    }

    private void LmHead(string h)
    {
        string logits = format.LmHead(h, weights.LmHead, LmHeadName, model.VocabSize, model.HiddenSize);
        string cast = Compute == DataType.Float ? logits : _g.Op("Cast", LmHeadName + "/cast", [logits], Attr.Int("to", (long)DataType.Float));
        if (model.FinalLogitSoftcap is { } c)
        {
            string scaled = _g.Op("Div", "logits/softcap/Div", [cast, _g.FloatScalar(c)]);
            string tanh = _g.Op("Tanh", "logits/softcap/Tanh", [scaled]);
            cast = _g.Op("Mul", "logits/softcap/Mul", [tanh, _g.FloatScalar(c)]);
        }
        _g.OpMulti("Identity", "logits/Identity", [cast], [DecoderIo.Logits]);
    }
}
