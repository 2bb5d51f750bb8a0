using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Graph;

/// <summary>What every <see cref="IWeightFormat"/> does the same way around its own matrix products.</summary>
internal static class WeightFormats
{
    /// <summary>Adds the bias, if any, to a projection <paramref name="y"/>.</summary>
    public static string AddBias(InitializerStore store, string y, LinearWeights w, string name, int outFeatures)
    {
        if (w.Bias is not null)
            y = store.Graph.Op("Add", name + "/Add", [y, store.Vector(w.Bias, name + ".bias", outFeatures)]);
        return y;
    }

    /// <summary>
    /// Adds the parts' biases, side by side as one vector (zeros for a part without one), to a packed product; the
    /// product itself when no part has a bias.
    /// </summary>
    public static string PackedBias(InitializerStore store, string y, IReadOnlyList<PackedPart> parts, string name)
    {
        if (parts.All(p => p.Weights.Bias is null))
            return y;
        var bias = new float[parts.Sum(p => p.OutFeatures)];
        int offset = 0;
        foreach (var p in parts)
        {
            if (p.Weights.Bias is { } b)
                store.Reader.Vector(b, p.OutFeatures).CopyTo(bias.AsSpan(offset, p.OutFeatures));
            offset += p.OutFeatures;
        }
        return store.Graph.Op("Add", name + "/Add", [y, store.Floats(name + ".bias", bias, bias.Length)]);
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
        if (interleaved is null)
            return e => store.Reader.Matrix(experts.Experts[e].Weight, inputMajor: false, outFeatures, inFeatures);
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
}
