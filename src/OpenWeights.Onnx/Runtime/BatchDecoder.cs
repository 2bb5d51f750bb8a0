using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// Runs a converted decoder over a fixed set of sequence slots that share one <see cref="KvCache"/>.
/// A decode step feeds one token per slot in one Run through an I/O binding made once, over buffers made
/// once: the steady state allocates nothing and copies no cache. Prompts enter either alone (a view of one
/// slot: continuing a chat, or a request joining a running batch) or together (right-padded, per-row
/// lengths taken from the attention mask). The cache is in the graph's KV element type and, on CUDA, in device
/// memory; ids and mask are written by the host into pinned memory; logits are bound to host memory, and a
/// graph converted with <c>--logits last</c> returns only the rows sampling needs (<see cref="BufferPlacement"/>).
/// </summary>
public sealed unsafe class BatchDecoder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly GenAiConfig _config;
    private readonly KvCache _cache;
    private readonly BufferPlacement _placement;
    private readonly RunOptions _runOptions = new();
    // Prompts run with shapes a decode step never has; with CUDA graphs on they must not be captured.
    private readonly RunOptions _promptRunOptions = new();
    // With CUDA graphs, ORT captures one graph per annotation id: a step over r rows is graph r (shapes differ).
    private const string GraphIdKey = "gpu_graph_id";
    private readonly bool _cudaGraph;
    private readonly RunOptions?[] _stepRunOptions;
    private readonly int[] _lengths;
    private readonly int[] _maskFill;

    // [slots, maxLength] attention mask; fixed width, see DecoderGraph.AttentionLengths.
    private readonly long* _mask;
    private readonly long* _stepIds;
    // [slots, maxLength] prompt ids, so that prompts need no managed array per call either.
    private readonly long* _promptIds;
    private readonly float* _stepLogits;
    private readonly OrtValue _maskValue, _stepIdsValue, _stepLogitsValue;
    private readonly OrtIoBinding _stepBinding;
    // Bindings of the first n slots (index n − 1), made on first use: a step runs only up to the last active slot.
    private readonly PrefixBinding?[] _prefixBindings;
    private readonly float[] _promptLogits;

    public int Slots => _cache.Slots;
    public int MaxLength => _cache.MaxLength;
    public int VocabSize => _config.VocabSize;
    public GenAiConfig Config => _config;
    public KvCache Cache => _cache;
    /// <summary>Per-slot run-time adapters; null when the decoder was made without (the base model only).</summary>
    public AdapterSlots? Adapters { get; }

    /// <summary>Tokens held in the cache for a slot.</summary>
    public int Length(int slot) => _lengths[slot];

    /// <param name="adapterRank">Above 0: per-slot adapter buffers of this rank (the model needs adapter inputs).</param>
    /// <param name="placement">Where the cache and inputs live (host memory when null); the decoder owns it.</param>
    /// <param name="cudaGraph">The session captures CUDA graphs: mark prompt runs as not to be captured.</param>
    public BatchDecoder(InferenceSession session, GenAiConfig config, int slots, int maxLength, int adapterRank = 0,
        BufferPlacement? placement = null, bool cudaGraph = false)
    {
        _session = session;
        _config = config;
        _placement = placement ?? BufferPlacement.Host();
        _cudaGraph = cudaGraph;
        _stepRunOptions = new RunOptions?[slots];
        if (cudaGraph)
            _promptRunOptions.AddRunConfigEntry(GraphIdKey, "-1");
        _cache = new KvCache(config, slots, maxLength, _placement);
        _lengths = new int[slots];
        _maskFill = new int[slots];
        _promptLogits = new float[slots * config.VocabSize];
        _prefixBindings = new PrefixBinding?[slots];

        _mask = (long*)_placement.AllocateInput((long)slots * maxLength * sizeof(long));
        _stepIds = (long*)_placement.AllocateInput((long)slots * sizeof(long));
        _promptIds = (long*)_placement.AllocateInput((long)slots * maxLength * sizeof(long));
        _stepLogits = (float*)NativeMemory.AllocZeroed((nuint)(slots * config.VocabSize), sizeof(float));
        _maskValue = WrapInput(_mask, [slots, maxLength]);
        _stepIdsValue = WrapInput(_stepIds, [slots, 1]);
        _stepLogitsValue = HostLogits(_stepLogits, slots, config.VocabSize);

        // Every idle row still needs one unmasked position, or its seqlens_k would be −1.
        for (int s = 0; s < slots; s++)
            SetMask(s, 1);

        _stepBinding = session.CreateIoBinding();
        _stepBinding.BindInput(config.InputIdsName, _stepIdsValue);
        _stepBinding.BindInput(config.AttentionMaskName, _maskValue);
        _stepBinding.BindOutput(config.LogitsName, _stepLogitsValue);
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            _stepBinding.BindInput(config.PastKey(layer), _cache.Full(layer, false));
            _stepBinding.BindInput(config.PastValue(layer), _cache.Full(layer, true));
            _stepBinding.BindOutput(config.PresentKey(layer), _cache.Full(layer, false));
            _stepBinding.BindOutput(config.PresentValue(layer), _cache.Full(layer, true));
        }
        if (adapterRank > 0)
        {
            Adapters = new AdapterSlots(session, config.Directory, slots, adapterRank);
            Adapters.BindAll(_stepBinding);
        }
    }

    /// <summary>Step logits [rows, 1, vocab] in host memory: ORT copies them there from wherever the graph ran.</summary>
    private static OrtValue HostLogits(float* data, int rows, int vocab) =>
        OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
            [rows, 1, vocab], (IntPtr)data, (long)rows * vocab * sizeof(float));

    /// <summary>An int64 view of host-written input memory (pinned on CUDA).</summary>
    private OrtValue WrapInput(long* data, long[] shape) =>
        OrtValue.CreateTensorValueWithData(_placement.InputMemory, TensorElementType.Int64, shape, (IntPtr)data,
            shape.Aggregate(1L, (a, b) => a * b) * sizeof(long));

    /// <summary>Forgets a slot's tokens after <paramref name="length"/> (rewinding a chat to a shared prefix).</summary>
    public void Rewind(int slot, int length)
    {
        if (length < 0 || length > _lengths[slot])
            throw new ArgumentOutOfRangeException(nameof(length), $"cannot rewind slot {slot} of length {_lengths[slot]} to {length}.");
        _lengths[slot] = length;
    }

    /// <summary>
    /// Appends tokens to one slot (its cache continues from <see cref="Length"/>) and returns the logits of
    /// the last one. The span is valid until the next call.
    /// </summary>
    public Span<float> Append(int slot, ReadOnlySpan<int> tokens) => Append(slot, tokens, default);

    /// <summary>
    /// As <see cref="Append(int, ReadOnlySpan{int})"/>, also copying every position's logits into
    /// <paramref name="allLogits"/> ([tokens, vocab]) when it is not empty: what scoring a text needs.
    /// </summary>
    public Span<float> Append(int slot, ReadOnlySpan<int> tokens, Span<float> allLogits)
    {
        if (!allLogits.IsEmpty && _config.Io.LogitsScope == LogitsScope.Last)
            throw new InvalidOperationException(
                $"{_config.Directory} was converted with --logits last: it returns only the last position's logits; " +
                "scoring every position needs a model converted with --logits all.");
        if (!allLogits.IsEmpty && allLogits.Length != tokens.Length * VocabSize)
            throw new ArgumentException($"allLogits must hold {tokens.Length} × {VocabSize} values.", nameof(allLogits));
        if (tokens.Length == 0)
            throw new ArgumentException("no tokens to append.");
        int total = _lengths[slot] + tokens.Length;
        if (total > MaxLength)
            throw new ContextOverflowException(total, MaxLength);

        SetMask(slot, total);
        for (int i = 0; i < tokens.Length; i++) _promptIds[i] = tokens[i];
        using var idsValue = WrapInput(_promptIds, [1, tokens.Length]);
        using var maskView = WrapInput(_mask + (long)slot * MaxLength, [1, MaxLength]);
        RunSlots(slot, 1, idsValue, maskView, tokens.Length, [tokens.Length - 1], allLogits);
        _lengths[slot] = total;
        return _promptLogits.AsSpan(slot * VocabSize, VocabSize);
    }

    /// <summary>
    /// Feeds several empty slots their prompts in one Run (right-padded: GroupQueryAttention's convention)
    /// and returns each row's last-token logits, [prompts.Count, vocab].
    /// </summary>
    public Span<float> Prefill(IReadOnlyList<int[]> prompts)
    {
        int rows = prompts.Count;
        if (rows == 0 || rows > Slots)
            throw new ArgumentException($"prefill needs 1 to {Slots} prompts, got {rows}.");
        int width = prompts.Max(p => p.Length);
        if (width > MaxLength)
            throw new ContextOverflowException(width, MaxLength);
        var ids = new Span<long>(_promptIds, rows * width);
        var lastPositions = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            if (prompts[r].Length == 0)
                throw new ArgumentException($"prompt {r} is empty.");
            for (int t = 0; t < width; t++)
                ids[r * width + t] = t < prompts[r].Length ? prompts[r][t] : _config.PadTokenId;
            lastPositions[r] = prompts[r].Length - 1;
            _lengths[r] = 0;
            SetMask(r, prompts[r].Length);
        }
        using var idsValue = WrapInput(_promptIds, [rows, width]);
        using var maskView = WrapInput(_mask, [rows, MaxLength]);
        RunSlots(0, rows, idsValue, maskView, width, lastPositions, default);
        for (int r = 0; r < rows; r++)
            _lengths[r] = prompts[r].Length;
        return _promptLogits.AsSpan(0, rows * VocabSize);
    }

    private void RunSlots(int first, int count, OrtValue ids, OrtValue mask, int sequenceLength, int[] lastPositions,
        Span<float> allLogits)
    {
        using var binding = _session.CreateIoBinding();
        var views = new List<OrtValue>(4 * _config.NumLayers);
        try
        {
            binding.BindInput(_config.InputIdsName, ids);
            binding.BindInput(_config.AttentionMaskName, mask);
            // Bound first so that it is output 0 below; ORT sizes it (prompt logits are [rows, seq, vocab]).
            binding.BindOutputToDevice(_config.LogitsName, OrtMemoryInfo.DefaultInstance);
            for (int layer = 0; layer < _config.NumLayers; layer++)
            {
                var k = _cache.Slice(layer, false, first, count);
                var v = _cache.Slice(layer, true, first, count);
                views.Add(k);
                views.Add(v);
                binding.BindInput(_config.PastKey(layer), k);
                binding.BindInput(_config.PastValue(layer), v);
                binding.BindOutput(_config.PresentKey(layer), k);
                binding.BindOutput(_config.PresentValue(layer), v);
            }
            Adapters?.Bind(binding, first, count, views);
            _session.RunWithBinding(_promptRunOptions, binding);
            using var outputs = binding.GetOutputValues();
            var logits = outputs[0].GetTensorDataAsSpan<float>();
            if (!allLogits.IsEmpty)
                logits.CopyTo(allLogits);
            // A --logits last graph already picked each row's last real position: [rows, 1, vocab].
            bool lastOnly = _config.Io.LogitsScope == LogitsScope.Last;
            for (int r = 0; r < count; r++)
                logits.Slice((lastOnly ? r : r * sequenceLength + lastPositions[r]) * VocabSize, VocabSize)
                    .CopyTo(_promptLogits.AsSpan((first + r) * VocabSize, VocabSize));
        }
        finally
        {
            foreach (var v in views) v.Dispose();
        }
    }

    /// <summary>
    /// One decode step: <paramref name="tokens"/>[s] is appended to slot s where <paramref name="active"/>[s].
    /// Only the slots up to the last active one run (a lone sequence in slot 0 costs a batch of one, whatever
    /// the slot count); idle slots among them run a dummy row that overwrites their position 0, so they are
    /// emptied (length 0), while slots after the last active one are not touched. Returns logits
    /// [slots run, vocab], row s for slot s.
    /// </summary>
    public Span<float> Step(ReadOnlySpan<int> tokens, ReadOnlySpan<bool> active)
    {
        int rows = active[..Slots].LastIndexOf(true) + 1;
        if (rows == 0)
            return Span<float>.Empty;
        for (int s = 0; s < rows; s++)
        {
            if (active[s])
            {
                int total = _lengths[s] + 1;
                if (total > MaxLength)
                    throw new ContextOverflowException(total, MaxLength);
                _stepIds[s] = tokens[s];
                SetMask(s, total);
            }
            else
            {
                _stepIds[s] = _config.PadTokenId;
                SetMask(s, 1);
                _lengths[s] = 0;
            }
        }
        _session.RunWithBinding(StepRunOptions(rows), rows == Slots ? _stepBinding : PrefixStepBinding(rows));
        for (int s = 0; s < rows; s++)
            if (active[s])
                _lengths[s]++;
        return new Span<float>(_stepLogits, rows * VocabSize);
    }

    /// <summary>
    /// Moves a sequence from one slot to another (its cache entries, length and adapter), emptying the
    /// source: how a scheduler keeps its occupied slots a prefix, so that steps run no idle rows.
    /// </summary>
    public void MoveSlot(int from, int to)
    {
        if (from == to)
            return;
        _cache.CopySlot(from, to, _lengths[from]);
        Adapters?.Assign(to, Adapters.Assigned(from));
        _lengths[to] = _lengths[from];
        _lengths[from] = 0;
    }

    /// <summary>
    /// Makes slot <paramref name="to"/> hold the first <paramref name="length"/> tokens of slot <paramref name="from"/>
    /// (a shared prompt prefix): their keys and values are copied, what <paramref name="to"/> held is forgotten, and
    /// appending continues after them. The adapter rows are not copied: the caller gives both slots the same adapter
    /// (keys and values computed under one adapter are wrong under another).
    /// </summary>
    public void CopyPrefix(int from, int to, int length)
    {
        if ((uint)length > (uint)_lengths[from])
            throw new ArgumentOutOfRangeException(nameof(length), $"slot {from} holds {_lengths[from]} tokens; cannot copy {length}.");
        if (from == to)
            throw new ArgumentException($"copying slot {from} onto itself: rewind it instead.");
        _cache.CopySlot(from, to, length);
        _lengths[to] = length;
    }

    private RunOptions StepRunOptions(int rows)
    {
        if (!_cudaGraph)
            return _runOptions;
        if (_stepRunOptions[rows - 1] is { } made)
            return made;
        var options = new RunOptions();
        options.AddRunConfigEntry(GraphIdKey, rows.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return _stepRunOptions[rows - 1] = options;
    }

    private OrtIoBinding PrefixStepBinding(int rows) =>
        (_prefixBindings[rows - 1] ??= new PrefixBinding(this, rows)).Binding;

    /// <summary>The step binding over the first <c>rows</c> slots: views of the same buffers, made once.</summary>
    private sealed class PrefixBinding : IDisposable
    {
        private readonly List<OrtValue> _values = new();
        public OrtIoBinding Binding { get; }

        public PrefixBinding(BatchDecoder d, int rows)
        {
            var config = d._config;
            Binding = d._session.CreateIoBinding();
            Binding.BindInput(config.InputIdsName, Keep(d.WrapInput(d._stepIds, [rows, 1])));
            Binding.BindInput(config.AttentionMaskName, Keep(d.WrapInput(d._mask, [rows, d.MaxLength])));
            Binding.BindOutput(config.LogitsName, Keep(HostLogits(d._stepLogits, rows, config.VocabSize)));
            for (int layer = 0; layer < config.NumLayers; layer++)
            {
                var k = Keep(d._cache.Slice(layer, false, 0, rows));
                var v = Keep(d._cache.Slice(layer, true, 0, rows));
                Binding.BindInput(config.PastKey(layer), k);
                Binding.BindInput(config.PastValue(layer), v);
                Binding.BindOutput(config.PresentKey(layer), k);
                Binding.BindOutput(config.PresentValue(layer), v);
            }
            d.Adapters?.Bind(Binding, 0, rows, _values);
        }

        private OrtValue Keep(OrtValue value)
        {
            _values.Add(value);
            return value;
        }

        public void Dispose()
        {
            Binding.Dispose();
            foreach (var v in _values) v.Dispose();
        }
    }

    /// <summary>Sets a row's mask to <paramref name="ones"/> leading ones, touching only what changed.</summary>
    private void SetMask(int slot, int ones)
    {
        var row = new Span<long>(_mask + (long)slot * MaxLength, MaxLength);
        int current = _maskFill[slot];
        if (ones > current) row[current..ones].Fill(1);
        else if (ones < current) row[ones..current].Clear();
        _maskFill[slot] = ones;
    }

    public void Dispose()
    {
        _stepBinding.Dispose();
        foreach (var p in _prefixBindings) p?.Dispose();
        _maskValue.Dispose();
        _stepIdsValue.Dispose();
        _stepLogitsValue.Dispose();
        _runOptions.Dispose();
        _promptRunOptions.Dispose();
        foreach (var o in _stepRunOptions) o?.Dispose();
        _cache.Dispose();
        _placement.Dispose();
        Adapters?.Dispose();
        NativeMemory.Free(_stepLogits);
    }
}
