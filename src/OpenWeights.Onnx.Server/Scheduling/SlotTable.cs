using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Server.Scheduling;

/// <summary>
/// Which sequence holds which slot of the <see cref="BatchDecoder"/>, and what the free slots' caches still hold
/// (<see cref="PrefixCache"/>). Slots stay compact: decoding sequences hold [0, <see cref="Decoding"/>), the prompt
/// being read (if any) the next slot, so a step runs only those rows; a released sequence's place is taken by the last
/// decoding one (<see cref="BatchDecoder.MoveSlot"/>). Driven only by the scheduler thread (<see cref="Active"/> is
/// also read by submitters, for admission).
/// </summary>
internal sealed class SlotTable
{
    private readonly BatchDecoder _decoder;
    private readonly Sequence?[] _slots;
    private readonly PrefixCache? _cache;
    private int _active;

    public SlotTable(BatchDecoder decoder, PrefixCache? cache)
    {
        _decoder = decoder;
        _slots = new Sequence?[decoder.Slots];
        _cache = cache;
    }

    public int Count => _slots.Length;
    /// <summary>Occupied slots (decoding, or reading a prompt).</summary>
    public int Active => Volatile.Read(ref _active);
    /// <summary>Slots [0, Decoding) decode at each step.</summary>
    public int Decoding { get; private set; }
    /// <summary>The sequence whose prompt is being read, in slot <see cref="Decoding"/>; null when none.</summary>
    public Sequence? Prefilling { get; private set; }
    public bool PrefixCacheEnabled => _cache is not null;

    /// <summary>The sequence in <paramref name="slot"/>, or null for a free slot.</summary>
    public Sequence? this[int slot] => _slots[slot];

    /// <summary>Whether a request with <paramref name="choices"/> choices fits into the free slots.</summary>
    public bool HasRoomFor(int choices) => _active + choices <= _slots.Length;

    /// <summary>
    /// Puts <paramref name="sequence"/> into the slot after the decoding ones as the prompt being read, starting from
    /// the longest cached prefix of its prompt; returns how many prompt tokens that prefix covers (0: read from the start).
    /// </summary>
    public int Admit(Sequence sequence)
    {
        int slot = Decoding;
        _slots[slot] = sequence;
        _active++;
        Prefilling = sequence;
        // Each slot carries its own adapter rows, so sequences of different adapters share decode steps.
        if (_decoder.Adapters is { } adapters)
            adapters.Assign(slot, sequence.Request.Adapter);
        else if (sequence.Request.Adapter is not null)
            throw new InvalidOperationException("a sequence asks for an adapter but the decoder has no adapter slots.");
        return TakeCachedPrefix(slot, sequence.Request);
    }

    /// <summary>
    /// The prompt being read is complete: its sequence decodes from the next step, and so do its other choices
    /// (<see cref="Sequence.Siblings"/>), each in one of the following slots with a copy of the prompt's keys and values
    /// (evicting what those slots cached). Returns the prompt's slot.
    /// </summary>
    public int PromptRead()
    {
        var first = Prefilling ?? throw new InvalidOperationException("no prompt is being read.");
        int slot = Decoding;
        Prefilling = null;
        var request = first.Request;
        for (int k = 1; k <= first.Siblings.Count; k++)
        {
            int to = slot + k;
            _cache?.Forget(to);
            _decoder.CopyPrefix(slot, to, request.PromptIds.Length);
            _decoder.Adapters?.Assign(to, request.Adapter);
            _slots[to] = first.Siblings[k - 1];
        }
        _active += first.Siblings.Count;
        Decoding += 1 + first.Siblings.Count;
        return slot;
    }

    /// <summary>
    /// Frees a slot, keeping the occupied slots compact. With the prefix cache, what the sequence computed stays as an
    /// entry: in place when its slot is the one left free, else copied into a free slot (an empty one or the least
    /// recently used entry) before the compaction overwrites it.
    /// </summary>
    public void Release(int slot, bool keepPrefix = true)
    {
        var sequence = _slots[slot]!;
        bool prefilling = ReferenceEquals(sequence, Prefilling);
        // The slot left free: the prompt's own; else the last occupied one, whose sequence moves down.
        int vacated = prefilling || Prefilling is not null ? Decoding : Decoding - 1;
        int keptAt = keepPrefix ? KeepPrefix(slot, sequence, vacated) : -1;
        if (prefilling)
        {
            Prefilling = null;
        }
        else
        {
            int last = --Decoding;
            Move(last, slot);
            if (Prefilling is not null)
                Move(last + 1, last);
        }
        _slots[Decoding + (Prefilling is null ? 0 : 1)] = null;
        if (vacated != keptAt)
            _cache?.Forget(vacated);
        _active--;
    }

    /// <summary>
    /// Fills <paramref name="slot"/> (free, about to be taken) with the longest reusable prefix of the request's prompt
    /// that any slot holds, and returns its length (0: the prompt is read from its start). An entry the slot itself held
    /// is first saved into the least recently used free slot when it was used more recently than that one's.
    /// </summary>
    private int TakeCachedPrefix(int slot, SequenceRequest request)
    {
        if (_cache is not { } cache)
        {
            _decoder.Rewind(slot, 0);
            return 0;
        }
        int best = 0, source = -1;
        for (int s = 0; s < _slots.Length; s++)
        {
            int reuse;
            if (s < Decoding)
            {
                var held = _slots[s]!.Core.Tokens;
                reuse = cache.Reusable(held[..Math.Min(held.Length, _decoder.Length(s))], _slots[s]!.Request.Adapter, request.PromptIds, request.Adapter);
            }
            else if (cache[s] is { } entry)
                reuse = cache.Reusable(entry.Tokens, entry.Adapter, request.PromptIds, request.Adapter);
            else
                continue;
            if (reuse > best || (reuse == best && reuse > 0 && s == slot))
                (best, source) = (reuse, s);
        }
        if (source == slot)
        {
            _decoder.Rewind(slot, best);
        }
        else
        {
            if (cache[slot] is { } own)
            {
                int victim = cache.Victim(slot + 1, except: source);
                if (victim >= 0 && (cache[victim] is not { } other || other.LastUsed < own.LastUsed))
                {
                    _decoder.CopyPrefix(slot, victim, own.Tokens.Length);
                    cache.Move(slot, victim);
                }
            }
            if (source >= 0)
                _decoder.CopyPrefix(source, slot, best);
            else
                _decoder.Rewind(slot, 0);
        }
        if (source >= Decoding)
            cache.Touch(source);
        cache.Forget(slot);
        return best;
    }

    /// <summary>Records what a released sequence's slot holds as a cache entry; returns the slot it is kept in, or -1.</summary>
    private int KeepPrefix(int slot, Sequence sequence, int vacated)
    {
        if (_cache is not { } cache || !sequence.HasBegun)
            return -1;
        int length = _decoder.Length(slot);
        if (length < cache.MinTokens)
            return -1;
        var tokens = sequence.Core.Tokens;
        tokens = tokens[..Math.Min(length, tokens.Length)];
        int target = slot == vacated ? slot : cache.Victim(_active, except: -1);
        if (target < 0)
            return -1;
        if (target != slot)
            _decoder.CopyPrefix(slot, target, tokens.Length);
        cache.Keep(target, tokens, sequence.Request.Adapter);
        return target;
    }

    private void Move(int from, int to)
    {
        if (from == to)
            return;
        _decoder.MoveSlot(from, to);
        _slots[to] = _slots[from];
        _slots[from] = null;
    }
}
