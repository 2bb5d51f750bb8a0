using System.Runtime.InteropServices;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Graph;

/// <summary>
/// A mixture-of-experts MLP computing exactly what transformers' Mixtral and Qwen2-MoE blocks do:
/// router logits → softmax → top-k → (renormalise) → Σₑ wₑ·Downₑ(silu(Gateₑ·x) ⊙ Upₑ·x), plus, with a shared
/// expert, sigmoid(g·x)·Shared(x).
/// </summary>
/// <remarks>
/// The router is a float32 MatMul against a float32 weight in every precision (a flipped expert choice is a large
/// error); under fp16 compute only its logits are rounded to fp16 on their way into the MoE node, which takes the
/// softmax and top-k in float32 again.
/// <para>
/// Routed (the default): ONNX Runtime's <c>com.microsoft.MoE</c> (float experts) or <c>QMoE</c> (block-quantized
/// experts, MatMulNBits' bytes), which run each token through its k experts only. Their CPU kernels take SwiGLU
/// only fused, gate and up rows interleaved in one fc1 (<c>swiglu_fusion=1</c>, "FC3 is not implemented"), and
/// compute G·sigmoid(α·G)·(L + β) with G, L clamped to <c>swiglu_limit</c>: with α = 1, β = 0 and no limit that is
/// silu(gate)·up exactly, so gate and up are interleaved at conversion.
/// </para>
/// <para>
/// Dense (<see cref="DecoderGraphOptions.DenseExperts"/>): standard ops only, every expert on every token as one
/// batched MatMul and the k routed weights scattered into a dense [tokens, E] weight, the others exactly zero.
/// Exact, but an MLP step costs E/k times its active work: the baseline the routed form is measured against.
/// </para>
/// </remarks>
internal sealed class MixtureOfExpertsMlp(ModelDescription model, InitializerStore store, IWeightFormat format, bool dense)
{
    private readonly GraphBuilder _g = store.Graph;

    public string Build(string h, MoeWeights w, string name)
    {
        var moe = model.Experts ?? throw new InvalidOperationException($"{name}: the layer has experts but the model describes no mixture of experts.");
        if (model.Activation != Activation.Silu)
            throw new NotSupportedException($"{name}: mixture-of-experts layers support the silu activation (SwiGLU experts), not {model.Activation}.");
        foreach (var (experts, role) in new[] { (w.Gate, "gate"), (w.Up, "up"), (w.Down, "down") })
            if (experts.Experts.Count != moe.Count)
                throw new InvalidOperationException($"{name}.experts.{role}: {experts.Experts.Count} experts mapped, the config says {moe.Count}.");

        if ((w.Shared is null) != (moe.SharedIntermediateSize is null))
            throw new InvalidOperationException($"{name}: the shared expert's weights and the model's shared expert size must both be given or both be absent.");

        string tokens = _g.Op("Reshape", name + "/flatten", [h, _g.Int64s(-1, model.HiddenSize)]);
        string wide = ToFloat(tokens, name + "/router/to_float");
        string logits = FloatLinear(wide, w.Router, name + "/router", name + ".router.weight", moe.Count);
        string y = dense ? Dense(tokens, logits, w, moe, name) : Routed(tokens, logits, w, moe, name);
        if (w.Shared is { } shared)
            y = _g.Op("Add", name + "/add_shared", [y, SharedExpert(tokens, wide, shared, moe.SharedIntermediateSize!.Value, name + ".shared_expert")]);
        return _g.Op("Reshape", name + "/unflatten", [y, _g.Op("Shape", name + "/Shape", [h])]);
    }

    /// <summary>
    /// x [N, hidden] float32 × W [out, hidden]ᵀ with W kept float32 in every precision: the router (a flipped expert
    /// choice is a large error) and the shared expert's one-logit gate.
    /// </summary>
    private string FloatLinear(string x, LinearWeights w, string name, string weightName, int outFeatures)
    {
        if (w.Bias is not null)
            throw new NotSupportedException($"{name}: a bias on a mixture-of-experts router or gate is not supported.");
        int hidden = model.HiddenSize;
        var values = store.Reader.Matrix(w.Weight, inputMajor: true, outFeatures, hidden);
        string table = store.Raw(weightName, DataType.Float, MemoryMarshal.AsBytes((ReadOnlySpan<float>)values),
            values.Length, hidden, outFeatures);
        return _g.Op("MatMul", name + "/MatMul", [x, table]);
    }

    /// <summary>sigmoid(ScaleGate·x) · Down(silu(Gate·x) ⊙ Up·x): a dense expert every token goes through (Qwen2-MoE).</summary>
    private string SharedExpert(string tokens, string wideTokens, SharedExpertWeights w, int inter, string name)
    {
        int hidden = model.HiddenSize;
        string gate = format.Linear(tokens, w.Gate, name + ".gate_proj", inter, hidden);
        string up = format.Linear(tokens, w.Up, name + ".up_proj", inter, hidden);
        string activated = _g.Op("Mul", name + "/gate_mul", [DecoderGraph.Activate(_g, model, gate, name + "/act"), up]);
        string y = format.Linear(activated, w.Down, name + ".down_proj", hidden, inter);
        string scale = _g.Op("Sigmoid", name + "/scale/Sigmoid", [FloatLinear(wideTokens, w.ScaleGate, name + "/scale", name + ".gate.weight", 1)]);
        return _g.Op("Mul", name + "/scaled", [y, FromFloat(scale, name + "/scale/to_compute")]);
    }

    /// <summary>ONNX Runtime's MoE / QMoE: only the k routed experts run for each token.</summary>
    private string Routed(string tokens, string logits, MoeWeights w, MixtureOfExperts moe, string name)
    {
        int hidden = model.HiddenSize, inter = moe.IntermediateSize;
        var fc1 = format.InterleavedExpertStack(w.Gate, w.Up, name + ".experts.gate_up_proj", inter, hidden);
        var fc2 = format.ExpertStack(w.Down, name + ".experts.down_proj", hidden, inter);
        if (fc2.Bias is not null)
            throw new NotSupportedException($"{name}: expert biases are not implemented in the mixture-of-experts graph yet.");
        string router = FromFloat(logits, name + "/router/to_compute");
        var attributes = new List<Attr>
        {
            Attr.Int("k", moe.PerToken),
            Attr.String("activation_type", "swiglu"),
            Attr.Int("swiglu_fusion", 1),
            Attr.Float("activation_alpha", 1f),
            Attr.Float("activation_beta", 0f),
            Attr.Int("normalize_routing_weights", moe.NormalizeTopK ? 1 : 0),
        };
        if (fc1.Bits is null)
            return _g.MsOp("MoE", name + "/MoE", [tokens, router, fc1.Weights, "", fc2.Weights], attributes.ToArray());

        int block = fc1.BlockSize!.Value;
        if (hidden % block != 0 || inter % block != 0)
            throw new NotSupportedException(
                $"{name}: ONNX Runtime's QMoE needs hidden_size ({hidden}) and the experts' intermediate size ({inter}) to be multiples of the quantization block size ({block}); choose a smaller --block-size.");
        attributes.Add(Attr.Int("expert_weight_bits", fc1.Bits.Value));
        attributes.Add(Attr.Int("block_size", block));
        attributes.Add(Attr.Int("accuracy_level", fc1.AccuracyLevel));
        // input, router_probs, fc1 (weights, scales, bias), fc2 (…), fc3 (…), the zero points of fc1, fc2, fc3, then
        // router_weights.
        var inputs = new List<string> { tokens, router, fc1.Weights, fc1.Scales!, "", fc2.Weights, fc2.Scales!, "", "", "", "",
            fc1.ZeroPoints ?? "", fc2.ZeroPoints ?? "", "" };
        // QMoE's CPU kernel (1.31) weights the chosen experts by a softmax over their k logits alone — renormalised top-k
        // probabilities — whatever normalize_routing_weights says. Without renormalisation (Qwen2-MoE's default) the
        // weights must be the softmax over all experts: given as router_weights, which it then gathers as they are.
        if (!moe.NormalizeTopK)
            inputs.Add(FromFloat(_g.Op("Softmax", name + "/router/Softmax", [logits], Attr.Int("axis", -1)), name + "/router/weights_to_compute"));
        while (inputs[^1].Length == 0)
            inputs.RemoveAt(inputs.Count - 1);
        return _g.MsOp("QMoE", name + "/QMoE", inputs, attributes.ToArray());
    }

    /// <summary>Standard ops: every expert on every token, weighted by the routed probabilities (zero elsewhere).</summary>
    private string Dense(string tokens, string logits, MoeWeights w, MixtureOfExperts moe, string name)
    {
        int hidden = model.HiddenSize, inter = moe.IntermediateSize;
        var gate = FloatStack(w.Gate, name + ".experts.gate_proj", inter, hidden);
        var up = FloatStack(w.Up, name + ".experts.up_proj", inter, hidden);
        var down = FloatStack(w.Down, name + ".experts.down_proj", hidden, inter);
        string weights = FromFloat(RoutingWeights(logits, moe, name), name + "/router/weights_to_compute");

        // [1, N, H] × [E, H, I] → [E, N, I]: each expert applied to every token.
        string x = _g.Op("Unsqueeze", name + "/tokens", [tokens, _g.Int64s(0)]);
        string g = _g.Op("MatMul", name + "/gate/MatMul", [x, InputMajor(gate, name + "/gate")]);
        string u = _g.Op("MatMul", name + "/up/MatMul", [x, InputMajor(up, name + "/up")]);
        string activated = _g.Op("Mul", name + "/gate_mul", [DecoderGraph.Activate(_g, model, g, name + "/act"), u]);
        string y = _g.Op("MatMul", name + "/down/MatMul", [activated, InputMajor(down, name + "/down")]);

        // [N, E] → [E, N, 1], then the weighted sum over experts.
        string perExpert = _g.Op("Unsqueeze", name + "/weights/Unsqueeze",
            [_g.Op("Transpose", name + "/weights/Transpose", [weights], Attr.Ints("perm", 1, 0)), _g.Int64s(2)]);
        string weighted = _g.Op("Mul", name + "/weighted", [y, perExpert]);
        return _g.Op("ReduceSum", name + "/ReduceSum", [weighted, _g.Int64s(0)], Attr.Int("keepdims", 0));
    }

    /// <summary>[N, E] float32: the (renormalised) top-k probabilities at their experts, exactly zero elsewhere.</summary>
    private string RoutingWeights(string logits, MixtureOfExperts moe, string name)
    {
        string probs = _g.Op("Softmax", name + "/router/Softmax", [logits], Attr.Int("axis", -1));
        var top = _g.OpMulti("TopK", name + "/router/TopK", [probs, _g.Int64s(moe.PerToken)],
            [name + "/router/topk_values", name + "/router/topk_indices"], "", Attr.Int("axis", -1), Attr.Int("largest", 1), Attr.Int("sorted", 1));
        string values = top[0];
        if (moe.NormalizeTopK)
            values = _g.Op("Div", name + "/router/normalize", [values,
                _g.Op("ReduceSum", name + "/router/topk_sum", [values, _g.Int64s(-1)], Attr.Int("keepdims", 1))]);
        // Zeros of the probabilities' shape and type (probabilities are finite, so p − p is exactly 0).
        string zeros = _g.Op("Sub", name + "/router/zeros", [probs, probs]);
        return _g.Op("ScatterElements", name + "/router/scatter", [zeros, top[1], values], Attr.Int("axis", -1));
    }

    private ExpertStack FloatStack(ExpertWeights experts, string name, int outFeatures, int inFeatures)
    {
        var stack = format.ExpertStack(experts, name, outFeatures, inFeatures);
        if (stack.Bits is not null)
            throw new NotSupportedException(
                $"{name}: the dense (all-experts, standard-op) mixture-of-experts graph takes float experts only, not {stack.Bits}-bit ones; quantized experts run in ONNX Runtime's QMoE (the default).");
        if (stack.Bias is not null)
            throw new NotSupportedException($"{name}: expert biases are not implemented in the mixture-of-experts graph yet.");
        return stack;
    }

    private string ToFloat(string x, string name) => store.Compute == DataType.Float ? x
        : _g.Op("Cast", name, [x], Attr.Int("to", (long)DataType.Float));

    private string FromFloat(string x, string name) => store.Compute == DataType.Float ? x
        : _g.Op("Cast", name, [x], Attr.Int("to", (long)store.Compute));

    /// <summary>[E, out, in] → [E, in, out]; a Transpose of an initializer that ONNX Runtime folds at load.</summary>
    private string InputMajor(ExpertStack stack, string name) =>
        _g.Op("Transpose", name + "/Transpose", [stack.Weights], Attr.Ints("perm", 0, 2, 1));
}
