using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Graph;

/// <summary>What every <see cref="IWeightFormat"/> does the same way around its own matrix products.</summary>
internal static class WeightFormats
{
    /// <summary>Adds the bias and the adapter's update, if any, to a projection <paramref name="y"/> of <paramref name="input"/>.</summary>
    public static string Finish(this IWeightFormat format, InitializerStore store, string y, string input, LinearWeights w,
        string name, int outFeatures, int inFeatures)
    {
        var g = store.Graph;
        if (w.Bias is not null)
            y = g.Op("Add", name + "/Add", [y, store.Vector(w.Bias, name + ".bias", outFeatures)]);
        if (w.Adapter is { } adapter)
            y = g.Op("Add", name + "/AddAdapter", [y, format.Adapter(input, adapter, name + ".adapter", outFeatures, inFeatures)]);
        return y;
    }

    /// <summary>The float low-rank update: both formats keep adapters in float.</summary>
    public static string FloatAdapter(InitializerStore store, string input, AdapterWeights a, string name, int outFeatures, int inFeatures)
    {
        var g = store.Graph;
        var (rank, aIn) = store.Reader.MatrixShape(a.A);
        if (aIn != inFeatures)
            throw new Checkpoints.CheckpointException($"{store.Reader.Checkpoint.Directory}: adapter A '{a.A}' is [{rank}, {aIn}] but the layer takes {inFeatures} inputs.");
        string down = g.Op("MatMul", name + "/A", [input, store.Matrix(a.A, name + ".A", rank, inFeatures, inputMajor: true)]);
        // The scale is folded into B at conversion: no Mul per step.
        var b = store.Reader.Matrix(a.B, inputMajor: true, outFeatures, rank);
        System.Numerics.Tensors.TensorPrimitives.Multiply(b, a.Scale, b);
        return g.Op("MatMul", name + "/B", [down, store.Floats(name + ".B", b, rank, outFeatures)]);
    }

    /// <summary>Every expert's bias [out] stacked as [E, out], or null when the experts have none.</summary>
    public static string? StackedBias(InitializerStore store, ExpertWeights experts, string name, int outFeatures)
    {
        int withBias = experts.Experts.Count(e => e.Bias is not null);
        if (withBias == 0)
            return null;
        if (withBias != experts.Experts.Count)
            throw new InvalidOperationException($"{name}: {withBias} of {experts.Experts.Count} experts have a bias; all or none must.");
        return store.FloatStack(name + ".bias", experts.Experts.Count, [outFeatures], e => store.Reader.Vector(experts.Experts[e].Bias!, outFeatures));
    }

    /// <summary>
    /// Expert e's [out, in] matrix, or with <paramref name="interleaved"/> both projections' rows alternating,
    /// [2·out, in]. One expert in memory at a time; the span is valid until the next call.
    /// </summary>
    public static InitializerStore.FloatPart ExpertRows(InitializerStore store, ExpertWeights experts, ExpertWeights? interleaved,
        string name, int outFeatures, int inFeatures)
    {
        RefuseAdapters(experts, name);
        if (interleaved is null)
            return e => store.Reader.Matrix(experts.Experts[e].Weight, inputMajor: false, outFeatures, inFeatures);
        RefuseAdapters(interleaved, name);
        if (interleaved.Experts.Count != experts.Experts.Count)
            throw new InvalidOperationException($"{name}: {experts.Experts.Count} gate experts but {interleaved.Experts.Count} up experts.");
        if (experts.Experts.Concat(interleaved.Experts).Any(e => e.Bias is not null))
            throw new NotSupportedException($"{name}: fused gate/up experts with biases are not supported.");
        var first = new float[checked(outFeatures * inFeatures)];
        var both = new float[checked(2 * first.Length)];
        return e =>
        {
            store.Reader.Matrix(experts.Experts[e].Weight, inputMajor: false, outFeatures, inFeatures).CopyTo(first);
            var second = store.Reader.Matrix(interleaved.Experts[e].Weight, inputMajor: false, outFeatures, inFeatures);
            for (int r = 0; r < outFeatures; r++)
            {
                first.AsSpan(r * inFeatures, inFeatures).CopyTo(both.AsSpan(2 * r * inFeatures, inFeatures));
                second.Slice(r * inFeatures, inFeatures).CopyTo(both.AsSpan((2 * r + 1) * inFeatures, inFeatures));
            }
            return both;
        };
    }

    public static void RefuseAdapters(ExpertWeights experts, string name)
    {
        if (experts.Experts.Any(e => e.Adapter is not null))
            throw new NotSupportedException($"{name}: adapters on experts are not supported.");
    }
}
