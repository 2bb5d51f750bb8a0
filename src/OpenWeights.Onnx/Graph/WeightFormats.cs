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
}
