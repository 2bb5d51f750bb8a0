using System.Diagnostics;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Generation;

/// <summary>
/// Runs the sequences that occupy the slots of one <see cref="BatchDecoder"/>, as <c>owonnx serve</c> does (and
/// <c>bench --batch</c> measures): a prompt is prefilled alone in its slot, then every slot whose
/// <see cref="SequenceGenerator"/> asks for a step decodes in one batched run, while one that asks for a recompute
/// (a LongRoPE switch) runs its whole sequence again alone in its slot. While a LongRoPE model has sequences on both
/// sides of its switch length, each steps alone, so that every sequence gets the factors it would get alone.
/// </summary>
public sealed class SlotDecoder
{
    /// <summary>Receives the logits of a slot that ran (valid until the next run).</summary>
    public delegate void LogitsHandler(int slot, Span<float> logits);

    private readonly BatchDecoder _decoder;
    private readonly int[] _tokens;
    private readonly bool[] _active;

    public SlotDecoder(BatchDecoder decoder)
    {
        _decoder = decoder;
        _tokens = new int[decoder.Slots];
        _active = new bool[decoder.Slots];
    }

    public BatchDecoder Decoder => _decoder;

    /// <summary>Batched decode steps run so far.</summary>
    public long Steps { get; private set; }

    /// <summary>Stopwatch ticks spent inside ONNX Runtime's runs (steps and recomputes), for the loop's overhead.</summary>
    public long RunTicks { get; private set; }

    /// <summary>True while any slot's sequence asks for a run.</summary>
    public static bool AnyRunning(ReadOnlySpan<SequenceGenerator?> slots)
    {
        foreach (var s in slots)
            if (s is not null && s.Next != NextRun.None)
                return true;
        return false;
    }

    /// <summary>Runs a prompt alone in <paramref name="slot"/> (other slots' caches untouched) and returns its last logits.</summary>
    public Span<float> Prefill(int slot, ReadOnlySpan<int> prompt)
    {
        _decoder.Rewind(slot, 0);
        return _decoder.Append(slot, prompt);
    }

    /// <summary>
    /// Runs what each slot's sequence asks for (<see cref="SequenceGenerator.Next"/>; null or finished slots are idle)
    /// and hands each slot's logits to <paramref name="handler"/>, which advances that sequence. Slots past
    /// <paramref name="slots"/>' length are not touched.
    /// </summary>
    public void Run(ReadOnlySpan<SequenceGenerator?> slots, LogitsHandler handler)
    {
        bool anyStep = false, anyRecompute = false;
        for (int s = 0; s < _active.Length; s++)
        {
            var next = s < slots.Length ? slots[s]?.Next ?? NextRun.None : NextRun.None;
            _active[s] = next == NextRun.Step;
            _tokens[s] = _active[s] ? slots[s]!.Current : 0;
            anyStep |= _active[s];
            anyRecompute |= next == NextRun.Recompute;
        }
        // Steps first: a batched step empties the slots it leaves out, which a recompute rewinds anyway.
        if (anyStep && StraddlesRopeSwitch())
            StepEachAlone(handler);
        else if (anyStep)
            StepTogether(handler);
        if (!anyRecompute)
            return;
        for (int s = 0; s < slots.Length; s++)
            if (slots[s] is { Next: NextRun.Recompute } sequence)
            {
                long started = Stopwatch.GetTimestamp();
                _decoder.Rewind(s, 0);
                var recomputed = _decoder.Append(s, sequence.Recompute);
                RunTicks += Stopwatch.GetTimestamp() - started;
                handler(s, recomputed);
            }
    }

    private void StepTogether(LogitsHandler handler)
    {
        long before = Stopwatch.GetTimestamp();
        var logits = _decoder.Step(_tokens, _active);
        RunTicks += Stopwatch.GetTimestamp() - before;
        Steps++;
        int vocab = _decoder.VocabSize;
        for (int s = 0; s < _active.Length; s++)
            if (_active[s])
                handler(s, logits.Slice(s * vocab, vocab));
    }

    /// <summary>
    /// The graph picks LongRoPE's short or long tables once per run, by the longest row. Rows on both sides of the
    /// switch length in one step would give the shorter ones the long factors, which they would not get alone.
    /// </summary>
    private bool StraddlesRopeSwitch()
    {
        if (_decoder.Config.RopeSwitchLength is not { } switchLength)
            return false;
        bool shortRow = false, longRow = false;
        for (int s = 0; s < _active.Length; s++)
            if (_active[s])
            {
                if (_decoder.Length(s) + 1 > switchLength) longRow = true;
                else shortRow = true;
            }
        return shortRow && longRow;
    }

    /// <summary>Each stepping slot runs its one token alone in its slot (a batched step would empty the slots it leaves out).</summary>
    private void StepEachAlone(LogitsHandler handler)
    {
        for (int s = 0; s < _active.Length; s++)
            if (_active[s])
            {
                long started = Stopwatch.GetTimestamp();
                var logits = _decoder.Append(s, _tokens.AsSpan(s, 1));
                RunTicks += Stopwatch.GetTimestamp() - started;
                handler(s, logits);
            }
    }
}
