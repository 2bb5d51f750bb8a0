namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>
/// The token masks of one grammar over one tokenizer, by parser state: a state that comes back (inside every string
/// of a document the state is the same) costs a dictionary look-up instead of a trie walk. Keys are the whole stack
/// (top first), compared exactly; a look-up allocates nothing. Shared by every sequence of the constraint (locked).
/// </summary>
internal sealed class TokenMaskCache
{
    /// <summary>Beyond this many mask bytes the cache starts over (a bound, not a tuning).</summary>
    private const long MaxBytes = 64L << 20;

    private readonly Dictionary<ulong, Entry> _entries = [];
    private readonly Lock _lock = new();
    private long _bytes;

    public sealed class Entry(Frame[] key, ulong[] mask)
    {
        public Frame[] Key { get; } = key;
        /// <summary>Bit t set: token t may come next.</summary>
        public ulong[] Mask { get; } = mask;
    }

    /// <summary>Special tokens the grammar's fixed texts contain (see <see cref="OutputConstraint.Start"/>); set once.</summary>
    public (int Id, byte[] Bytes)[]? SpecialTokens { get; set; }

    public long Hits { get; private set; }
    public long Misses { get; private set; }

    public Entry? Find(in ParserState s, FrameArena arena, ulong hash)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(hash, out var entry) && Matches(entry.Key, s, arena))
            {
                Hits++;
                return entry;
            }
            Misses++;
            return null;
        }
    }

    public Entry Add(in ParserState s, FrameArena arena, ulong hash, ulong[] mask)
    {
        var key = new Frame[s.Depth];
        Frame top = s.Top;
        int below = s.Below;
        for (int i = 0; i < key.Length; i++)
        {
            key[i] = top;
            if (i + 1 < key.Length)
            {
                top = arena[below];
                below = arena.BelowOf(below);
            }
        }
        var entry = new Entry(key, mask);
        lock (_lock)
        {
            _bytes += mask.Length * 8L + key.Length * 24L;
            if (_bytes > MaxBytes)
            {
                _entries.Clear();
                _bytes = mask.Length * 8L + key.Length * 24L;
            }
            _entries[hash] = entry;
        }
        return entry;
    }

    public static ulong Hash(in ParserState s, FrameArena arena)
    {
        ulong h = 14695981039346656037UL ^ (ulong)s.Depth;
        Frame top = s.Top;
        int below = s.Below;
        for (int i = 0; i < s.Depth; i++)
        {
            h = Mix(h, (ulong)(uint)top.Node | ((ulong)(uint)top.Phase << 32));
            h = Mix(h, (ulong)(uint)top.A | ((ulong)(uint)top.B << 32));
            h = Mix(h, top.Seen);
            if (i + 1 < s.Depth)
            {
                top = arena[below];
                below = arena.BelowOf(below);
            }
        }
        return h;
    }

    private static ulong Mix(ulong h, ulong v)
    {
        h ^= v + 0x9E3779B97F4A7C15UL + (h << 6) + (h >> 2);
        return h * 0xBF58476D1CE4E5B9UL;
    }

    private static bool Matches(Frame[] key, in ParserState s, FrameArena arena)
    {
        if (key.Length != s.Depth)
            return false;
        Frame top = s.Top;
        int below = s.Below;
        for (int i = 0; i < key.Length; i++)
        {
            if (!key[i].Equals(top))
                return false;
            if (i + 1 < key.Length)
            {
                top = arena[below];
                below = arena.BelowOf(below);
            }
        }
        return true;
    }
}
