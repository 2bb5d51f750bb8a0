using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OpenWeights.Onnx.Adapters;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// Per-slot run-time adapters for a graph converted with adapter inputs: for each adapted linear layer one A buffer
/// [slots, in, rank] and one B buffer [slots, rank, out], allocated once. Assigning an adapter to a slot copies its
/// matrices into that slot's rows (zero-padded to the common rank; a slot without an adapter is all zeros, i.e. the
/// base model), so every row of a batch may use a different adapter and a decode step binds the same buffers as
/// always. Cost: rank × (in + out) floats per slot and layer, whatever the number of adapters loaded.
/// </summary>
public sealed unsafe class AdapterSlots : IDisposable
{
    private sealed record Site(string A, string B, int In, int Out);

    private readonly Site[] _sites;
    private readonly float*[] _a, _b;
    private readonly OrtValue[] _fullA, _fullB;
    private readonly AdapterFile?[] _assigned;

    public int Slots { get; }
    public int Rank { get; }
    public long Bytes => _sites.Sum(s => (long)Slots * Rank * (s.In + s.Out) * sizeof(float));

    public AdapterSlots(InferenceSession session, string modelDirectory, int slots, int rank)
    {
        if (rank < 1)
            throw new ArgumentOutOfRangeException(nameof(rank), "adapter rank must be at least 1.");
        var inputs = session.OverridableInitializerMetadata;
        _sites = inputs.Keys.Where(k => k.EndsWith(LoraSite.ASuffix, StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(a =>
            {
                string b = a[..^LoraSite.ASuffix.Length] + LoraSite.BSuffix;
                if (!inputs.TryGetValue(b, out var bMeta))
                    throw new ModelLoadException($"{modelDirectory}: adapter input '{a}' has no '{b}'.");
                return new Site(a, b, inputs[a].Dimensions[1], bMeta.Dimensions[2]);
            }).ToArray();
        if (_sites.Length == 0)
            throw new ModelLoadException($"{modelDirectory}: the model has no inputs for run-time adapters; convert the base with " +
                                         "'owonnx convert <checkpoint> --adapter-inputs …' to use adapters with it.");
        Slots = slots;
        Rank = rank;
        _a = new float*[_sites.Length];
        _b = new float*[_sites.Length];
        _fullA = new OrtValue[_sites.Length];
        _fullB = new OrtValue[_sites.Length];
        _assigned = new AdapterFile?[slots];
        for (int i = 0; i < _sites.Length; i++)
        {
            var s = _sites[i];
            _a[i] = (float*)NativeMemory.AllocZeroed((nuint)((long)slots * s.In * rank), sizeof(float));
            _b[i] = (float*)NativeMemory.AllocZeroed((nuint)((long)slots * rank * s.Out), sizeof(float));
            _fullA[i] = ViewA(i, 0, slots);
            _fullB[i] = ViewB(i, 0, slots);
        }
    }

    /// <summary>The adapter a slot runs with (null: the base model).</summary>
    public AdapterFile? Assigned(int slot) => _assigned[slot];

    /// <summary>Fails unless every tensor of the adapter feeds an adapter input of this model with its shape, within the rank.</summary>
    public void Check(AdapterFile adapter)
    {
        if (adapter.Rank > Rank)
            throw new ModelLoadException($"{adapter.Path}: rank {adapter.Rank} exceeds the rank {Rank} these adapter slots were made for.");
        foreach (var (name, (_, shape)) in adapter.Tensors)
        {
            var site = _sites.FirstOrDefault(s => s.A == name || s.B == name)
                ?? throw new ModelLoadException($"{adapter.Path}: tensor '{name}' feeds no adapter input of this model (an adapter prepared for another base?).");
            bool isA = site.A == name;
            if ((isA ? shape[0] != site.In : shape[1] != site.Out))
                throw new ModelLoadException($"{adapter.Path}: tensor '{name}' is [{string.Join(", ", shape)}] but the model's input takes " +
                                             (isA ? $"[{site.In}, r]" : $"[r, {site.Out}]") + " (an adapter prepared for another base?).");
        }
    }

    /// <summary>Sets a slot's adapter (null: none), copying it into the slot's rows; nothing is copied when it is already there.</summary>
    public void Assign(int slot, AdapterFile? adapter)
    {
        if (ReferenceEquals(_assigned[slot], adapter))
            return;
        if (adapter is not null)
            Check(adapter);
        for (int i = 0; i < _sites.Length; i++)
        {
            var s = _sites[i];
            var a = new Span<float>(_a[i] + (long)slot * s.In * Rank, s.In * Rank);
            var b = new Span<float>(_b[i] + (long)slot * Rank * s.Out, Rank * s.Out);
            a.Clear();
            b.Clear();
            if (adapter is null || !adapter.Tensors.TryGetValue(s.A, out var at))
                continue;
            var bt = adapter.Tensors[s.B];
            int r = (int)at.Shape[1];
            // A [in, r] into [in, Rank] row by row; B [r, out] is the first r rows of [Rank, out].
            for (int row = 0; row < s.In; row++)
                at.Values.AsSpan(row * r, r).CopyTo(a.Slice(row * Rank, r));
            bt.Values.AsSpan().CopyTo(b);
        }
        _assigned[slot] = adapter;
    }

    /// <summary>Binds every slot's buffers (the decode step's binding, made once).</summary>
    public void BindAll(OrtIoBinding binding)
    {
        for (int i = 0; i < _sites.Length; i++)
        {
            binding.BindInput(_sites[i].A, _fullA[i]);
            binding.BindInput(_sites[i].B, _fullB[i]);
        }
    }

    /// <summary>Binds slots first..first+count−1; the views go into <paramref name="views"/> for the caller to dispose.</summary>
    public void Bind(OrtIoBinding binding, int first, int count, List<OrtValue> views)
    {
        for (int i = 0; i < _sites.Length; i++)
        {
            var a = ViewA(i, first, count);
            views.Add(a);
            binding.BindInput(_sites[i].A, a);
            var b = ViewB(i, first, count);
            views.Add(b);
            binding.BindInput(_sites[i].B, b);
        }
    }

    private OrtValue ViewA(int i, int first, int count) => View(_a[i] + (long)first * _sites[i].In * Rank, [count, _sites[i].In, Rank]);
    private OrtValue ViewB(int i, int first, int count) => View(_b[i] + (long)first * Rank * _sites[i].Out, [count, Rank, _sites[i].Out]);

    private static OrtValue View(float* data, long[] shape) =>
        OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float, shape, (IntPtr)data,
            shape.Aggregate(1L, (x, y) => x * y) * sizeof(float));

    public void Dispose()
    {
        for (int i = 0; i < _sites.Length; i++)
        {
            _fullA[i]?.Dispose();
            _fullB[i]?.Dispose();
            NativeMemory.Free(_a[i]);
            NativeMemory.Free(_b[i]);
            _a[i] = _b[i] = null;
        }
    }
}
