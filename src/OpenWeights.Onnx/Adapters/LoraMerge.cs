using System.Numerics.Tensors;
using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Adapters;

/// <summary>
/// Merges adapters into the base weights at conversion: W' = W + Σ scale·B·A over the adapters, in the order given,
/// one weight at a time as the converter reads it (no second copy of the model).
/// </summary>
public sealed class LoraMerge : IWeightDelta
{
    private readonly Dictionary<WeightRef, List<LoraPair>> _pairs = new();
    private readonly HashSet<WeightRef> _applied = new();

    /// <summary>Modules changed, over all adapters (with repeats for several adapters on one module).</summary>
    public int Count => _pairs.Values.Sum(p => p.Count);

    public void Add(IReadOnlyDictionary<LoraTarget, LoraPair> adapter)
    {
        foreach (var (target, pair) in adapter)
        {
            if (!_pairs.TryGetValue(target.Weight, out var list))
                _pairs[target.Weight] = list = [];
            list.Add(pair);
        }
    }

    public void AddTo(WeightRef weight, Span<float> values, bool inputMajor)
    {
        if (!_pairs.TryGetValue(weight, out var pairs))
            return;
        _applied.Add(weight);
        foreach (var p in pairs)
        {
            if (values.Length != p.OutFeatures * p.InFeatures)
                throw new InvalidOperationException($"adapter for '{p.Module}' is [{p.OutFeatures}, {p.InFeatures}] but '{weight}' holds {values.Length} values.");
            if (inputMajor)
                AddInputMajor(p, values);
            else
                AddOutputMajor(p, values);
        }
    }

    /// <summary>
    /// Fails if a weight an adapter changes was never read as that weight (a graph that reads a fused tensor whole
    /// instead of its q/k/v rows would otherwise drop the adapter silently).
    /// </summary>
    public void EnsureAllApplied()
    {
        var missed = _pairs.Keys.Where(w => !_applied.Contains(w)).Select(w => w.ToString()).Order(StringComparer.Ordinal).ToList();
        if (missed.Count > 0)
            throw new InvalidOperationException($"the graph never read {missed.Count} adapted weight(s) as the adapter expects " +
                                                $"({string.Join(", ", missed.Take(4))}{(missed.Count > 4 ? ", …" : "")}); the merge would be incomplete.");
    }

    /// <summary>Row o of W [out, in] gains Σ_r scale·B[o, r]·A[r, :].</summary>
    private static void AddOutputMajor(LoraPair p, Span<float> w)
    {
        var a = p.A.AsSpan();
        for (int o = 0; o < p.OutFeatures; o++)
        {
            var row = w.Slice(o * p.InFeatures, p.InFeatures);
            for (int r = 0; r < p.Rank; r++)
                TensorPrimitives.MultiplyAdd(a.Slice(r * p.InFeatures, p.InFeatures), p.Scale * p.B[o * p.Rank + r], row, row);
        }
    }

    /// <summary>Row i of Wᵀ [in, out] gains Σ_r A[r, i]·scale·B[:, r].</summary>
    private static void AddInputMajor(LoraPair p, Span<float> w)
    {
        var bt = new float[p.Rank * p.OutFeatures]; // scale·Bᵀ [r, out], so each term is a contiguous row
        for (int o = 0; o < p.OutFeatures; o++)
            for (int r = 0; r < p.Rank; r++)
                bt[r * p.OutFeatures + o] = p.Scale * p.B[o * p.Rank + r];
        for (int i = 0; i < p.InFeatures; i++)
        {
            var row = w.Slice(i * p.OutFeatures, p.OutFeatures);
            for (int r = 0; r < p.Rank; r++)
                TensorPrimitives.MultiplyAdd(bt.AsSpan(r * p.OutFeatures, p.OutFeatures), p.A[r * p.InFeatures + i], row, row);
        }
    }
}
