using OpenWeights.Onnx.Adapters;

namespace OpenWeights.Onnx.Server.Scheduling;

/// <summary>What a free slot's KV cache still holds: the tokens a finished sequence ran, under which adapter.</summary>
internal sealed record CachedPrefix(int[] Tokens, AdapterFile? Adapter)
{
    /// <summary>When it was kept or last reused (the scheduler's clock): the least recent is evicted first.</summary>
    public long LastUsed { get; set; }
}

/// <summary>
/// The prefix cache's bookkeeping: per free slot, the tokens whose keys and values are still in that slot (finished
/// sequences' prompts and answers), and the rule for how much of a held sequence a new prompt may reuse. The KV
/// entries themselves stay where they are in the decoder's cache; the scheduler copies them.
/// </summary>
/// <remarks>
/// Reuse is exact: keys and values depend only on the tokens before them, the adapter and the rotary factors, so a
/// prefix is reused only under the same adapter (reference identity: one loaded file per served id), and for a
/// LongRoPE model only when both the held sequence and the new prompt stay within the short factors' range (past the
/// switch every position is rotated with the long factors). At least the prompt's last token is always run, for its logits.
/// </remarks>
internal sealed class PrefixCache
{
    private readonly CachedPrefix?[] _entries;
    private readonly int? _ropeSwitchLength;
    private long _clock;

    /// <param name="minTokens">Shorter matches are not worth a copy (a BOS token or a chat template's first tag).</param>
    public PrefixCache(int slots, int minTokens, int? ropeSwitchLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(minTokens, 1);
        _entries = new CachedPrefix?[slots];
        MinTokens = minTokens;
        _ropeSwitchLength = ropeSwitchLength;
    }

    /// <summary>Shortest prefix reused.</summary>
    public int MinTokens { get; }

    public CachedPrefix? this[int slot] => _entries[slot];

    /// <summary>Records that <paramref name="slot"/> (free) holds <paramref name="tokens"/>.</summary>
    public void Keep(int slot, ReadOnlySpan<int> tokens, AdapterFile? adapter) =>
        _entries[slot] = new CachedPrefix(tokens.ToArray(), adapter) { LastUsed = ++_clock };

    /// <summary>The slot's cache is taken or overwritten.</summary>
    public void Forget(int slot) => _entries[slot] = null;

    public void Touch(int slot)
    {
        if (_entries[slot] is { } e)
            e.LastUsed = ++_clock;
    }

    /// <summary>Moves an entry along with the copy of its slot's cache.</summary>
    public void Move(int from, int to)
    {
        _entries[to] = _entries[from];
        _entries[from] = null;
    }

    /// <summary>How many leading tokens of <paramref name="prompt"/> can be taken from a slot holding <paramref name="held"/>; 0: none.</summary>
    public int Reusable(ReadOnlySpan<int> held, AdapterFile? heldAdapter, ReadOnlySpan<int> prompt, AdapterFile? adapter)
    {
        if (!ReferenceEquals(heldAdapter, adapter))
            return 0;
        if (_ropeSwitchLength is { } limit && (held.Length > limit || prompt.Length > limit))
            return 0;
        int common = held.CommonPrefixLength(prompt);
        int reuse = Math.Min(common, prompt.Length - 1);
        return reuse >= MinTokens ? reuse : 0;
    }

    /// <summary>
    /// The free slot in [<paramref name="first"/>, slots) to overwrite, other than <paramref name="except"/>: an empty
    /// one, else the least recently used entry; -1 when there is none.
    /// </summary>
    public int Victim(int first, int except)
    {
        int victim = -1;
        for (int s = first; s < _entries.Length; s++)
        {
            if (s == except)
                continue;
            if (_entries[s] is null)
                return s;
            if (victim < 0 || _entries[s]!.LastUsed < _entries[victim]!.LastUsed)
                victim = s;
        }
        return victim;
    }
}
