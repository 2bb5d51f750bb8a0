using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;

namespace OpenWeights.Onnx.Graph;

/// <summary>
/// A mixture-of-experts MLP from standard ONNX ops, computing exactly what transformers' Mixtral block does:
/// router logits → softmax → top-k → (renormalise) → Σₑ wₑ·Downₑ(act(Gateₑ·x) ⊙ Upₑ·x).
/// </summary>
/// <remarks>
/// Every expert runs on every token and the k routed weights are scattered into a dense [tokens, E] weight, the
/// others exactly zero: the result is exact, but an MLP step costs E/k times its active FLOPs. ONNX Runtime's
/// <c>com.microsoft.MoE</c> CPU kernel does not fit Mixtral: it refuses a separate up projection ("FC3 is not
/// implemented for CPU MoE") and takes SwiGLU only in its interleaved, gpt-oss form. The router is never quantized:
/// a flipped expert choice is a large error.
/// </remarks>
internal sealed class MixtureOfExpertsMlp(ModelDescription model, InitializerStore store, IWeightFormat format)
{
    private readonly GraphBuilder _g = store.Graph;

    public string Build(string h, MoeWeights w, string name)
    {
        var moe = model.Experts ?? throw new InvalidOperationException($"{name}: the layer has experts but the model describes no mixture of experts.");
        int hidden = model.HiddenSize, inter = model.IntermediateSize;
        var gate = Stack(w.Gate, name + ".experts.gate_proj", inter, hidden, moe.Count);
        var up = Stack(w.Up, name + ".experts.up_proj", inter, hidden, moe.Count);
        var down = Stack(w.Down, name + ".experts.down_proj", hidden, inter, moe.Count);

        string tokens = _g.Op("Reshape", name + "/flatten", [h, _g.Int64s(-1, hidden)]);
        string weights = RoutingWeights(tokens, w.Router, moe, name);

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
        string sum = _g.Op("ReduceSum", name + "/ReduceSum", [weighted, _g.Int64s(0)], Attr.Int("keepdims", 0));
        return _g.Op("Reshape", name + "/unflatten", [sum, _g.Op("Shape", name + "/Shape", [h])]);
    }

    /// <summary>[N, E]: the renormalised top-k probabilities at their experts, exactly zero elsewhere.</summary>
    private string RoutingWeights(string tokens, LinearWeights router, MixtureOfExperts moe, string name)
    {
        if (router.Bias is not null)
            throw new NotSupportedException($"{name}.router: a router bias or adapter is not supported.");
        string table = store.Matrix(router.Weight, name + ".router.weight", moe.Count, model.HiddenSize, inputMajor: true);
        string logits = _g.Op("MatMul", name + "/router/MatMul", [tokens, table]);
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

    private ExpertStack Stack(ExpertWeights experts, string name, int outFeatures, int inFeatures, int count)
    {
        if (experts.Experts.Count != count)
            throw new InvalidOperationException($"{name}: {experts.Experts.Count} experts mapped, the config says {count}.");
        var stack = format.ExpertStack(experts, name, outFeatures, inFeatures);
        if (stack.Bits is not null)
            throw new NotSupportedException(
                $"{name}: quantized experts ({stack.Bits}-bit) are not implemented in the mixture-of-experts graph yet; convert this model in fp32 (the only precision tested for mixture-of-experts models).");
        if (stack.Bias is not null)
            throw new NotSupportedException($"{name}: expert biases are not implemented in the mixture-of-experts graph yet.");
        return stack;
    }

    /// <summary>[E, out, in] → [E, in, out]; a Transpose of an initializer that ONNX Runtime folds at load.</summary>
    private string InputMajor(ExpertStack stack, string name) =>
        _g.Op("Transpose", name + "/Transpose", [stack.Weights], Attr.Ints("perm", 0, 2, 1));
}
