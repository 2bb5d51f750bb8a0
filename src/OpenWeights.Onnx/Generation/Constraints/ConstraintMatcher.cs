namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>
/// One sequence's progress through an <see cref="OutputConstraint"/>: which tokens may come next
/// (<see cref="Mask"/>), the token that came (<see cref="Accept"/>), and whether the document is complete. Made by
/// <see cref="OutputConstraint.Start"/>; not thread-safe. After its first steps it allocates only when it meets a
/// parser state no sequence of the constraint has met before (a new mask for the shared cache).
/// </summary>
public sealed class ConstraintMatcher
{
    private readonly TokenTrie _trie;
    private readonly TokenMaskCache _cache;
    private readonly ByteMatcher _matcher;
    private readonly FrameArena _arena = new();
    private readonly ParserState[] _walk;
    private readonly bool _stripLeadingSpace;
    private readonly int _root;
    private readonly (int Id, byte[] Bytes)[] _specials;
    private readonly float[] _specialLogits;
    private ParserState _state;
    private bool _first;

    internal ConstraintMatcher(Grammar grammar, TokenTrie trie, TokenMaskCache cache, bool stripLeadingSpace)
    {
        _trie = trie;
        _cache = cache;
        _matcher = new ByteMatcher(grammar, _arena);
        _walk = new ParserState[trie.MaxDepth + 1];
        _stripLeadingSpace = stripLeadingSpace;
        _root = grammar.Root;
        _specials = cache.SpecialTokens ?? [];
        _specialLogits = new float[_specials.Length];
        Reset();
    }

    /// <summary>The text so far is a whole document: EOS may end it (it may also go on, as a number may).</summary>
    public bool CanEnd => _matcher.CanEnd(_state);

    /// <summary>The document is complete and nothing can follow it: the sequence is over.</summary>
    public bool IsComplete => _state.Depth == 0 || (CanEnd && !_matcher.CanContinue(_state));

    /// <summary>
    /// Whether the text so far stands in free text (<see cref="OutputConstraint.FreeText"/>, outside any item):
    /// false inside a constrained document. Stop strings are matched only there.
    /// </summary>
    public bool InFreeText => _matcher.InFreeText(_state);

    /// <summary>Masks computed by a trie walk so far, and those found in the shared cache.</summary>
    public long MaskWalks => _cache.Misses;
    public long MaskHits => _cache.Hits;

    /// <summary>Starts again from an empty document.</summary>
    public void Reset()
    {
        _arena.Truncate(0);
        _state = ParserState.Start(_root);
        _first = true;
    }

    /// <summary>
    /// Sets to −∞ the logit of every token whose bytes cannot continue the document (special tokens included, except
    /// those whose text the constraint holds, such as a tool call's marker; the caller restores EOS when
    /// <see cref="CanEnd"/>). Logits past the tokenizer's vocabulary are masked too.
    /// Returns false when no token at all continues the document: then, unless it <see cref="CanEnd"/>, the
    /// sequence is at a dead end (<see cref="DeadEnd"/> says where).
    /// </summary>
    public bool Mask(Span<float> logits)
    {
        for (int i = 0; i < _specials.Length; i++)
            _specialLogits[i] = (uint)_specials[i].Id < (uint)logits.Length ? logits[_specials[i].Id] : 0f;
        ulong[] mask = CurrentMask();
        int count = Math.Min(logits.Length, _trie.TokenCount);
        bool any = false;
        for (int w = 0; w * 64 < count; w++)
        {
            ulong bits = mask[w];
            int start = w * 64;
            int end = Math.Min(start + 64, count);
            if (bits == ulong.MaxValue && end - start == 64)
            {
                any = true;
                continue;
            }
            if (bits == 0)
            {
                logits[start..end].Fill(float.NegativeInfinity);
                continue;
            }
            any = true;
            // Only the refused tokens are visited: inside a string most of a word is allowed.
            ulong refused = ~bits;
            if (end - start < 64)
                refused &= (1UL << (end - start)) - 1;
            while (refused != 0)
            {
                logits[start + System.Numerics.BitOperations.TrailingZeroCount(refused)] = float.NegativeInfinity;
                refused &= refused - 1;
            }
        }
        if (logits.Length > count)
            logits[count..].Fill(float.NegativeInfinity);
        // Special tokens whose text the grammar holds (a call marker) are not in the trie: each is checked here.
        for (int i = 0; i < _specials.Length; i++)
            if ((uint)_specials[i].Id < (uint)logits.Length && SpecialAllowed(i))
            {
                logits[_specials[i].Id] = _specialLogits[i];
                any = true;
            }
        return any;
    }

    /// <summary>
    /// Whether a special token whose text the grammar holds may come next: its bytes continue the document, and in
    /// free text only when they open an item (the call marker), not as mere text.
    /// </summary>
    private bool SpecialAllowed(int index)
    {
        var bytes = _specials[index].Bytes;
        int mark = _arena.Length;
        var s = _state;
        bool ok = true;
        foreach (byte b in bytes)
            if (!_matcher.Advance(ref s, b))
            {
                ok = false;
                break;
            }
        ok = ok && !(_matcher.InFreeText(_state) && _matcher.InFreeText(s));
        _arena.Truncate(mark);
        return ok;
    }

    private static readonly System.Text.Json.JsonSerializerOptions Readable =
        new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// Describes a dead end (<see cref="Mask"/> found no token): what the grammar was matching, the bytes it would
    /// accept next, and <paramref name="textSoFar"/> (the sequence's generated text). Allocates; only for failures.
    /// </summary>
    public ConstraintDeadEndException DeadEnd(string textSoFar)
    {
        var allowed = _matcher.AllowedBytes(_state);
        string bytes = allowed.Count == 0 ? "none"
            : string.Join(", ", allowed.Take(16).Select(b => b is >= 0x20 and < 0x7F ? $"0x{b:X2} '{(char)b}'" : $"0x{b:X2}"))
              + (allowed.Count > 16 ? $" and {allowed.Count - 16} more" : "");
        string tail = textSoFar.Length > 80 ? "…" + textSoFar[^80..] : textSoFar;
        string message =
            $"The constrained output reached a dead end after {System.Text.Json.JsonSerializer.Serialize(tail, Readable)}: inside " +
            $"{_matcher.Describe(_state)} the grammar accepts next only the byte(s) {bytes}, and no token of the " +
            "vocabulary continues with them (the tokenizer cannot spell what the constraint requires here).";
        return new ConstraintDeadEndException(message, textSoFar, allowed);
    }

    /// <summary>Whether <paramref name="token"/> may come next.</summary>
    public bool Allows(int token)
    {
        for (int i = 0; i < _specials.Length; i++)
            if (_specials[i].Id == token)
                return SpecialAllowed(i);
        if ((uint)token >= (uint)_trie.TokenCount)
            return false;
        return (CurrentMask()[token >> 6] & (1UL << (token & 63))) != 0;
    }

    /// <summary>Advances past a token's bytes; throws if the token cannot continue the document.</summary>
    public void Accept(ReadOnlySpan<byte> bytes)
    {
        if (_first)
        {
            _first = false;
            if (_stripLeadingSpace && bytes.Length > 0 && bytes[0] == (byte)' ')
                bytes = bytes[1..];
        }
        var next = _state;
        foreach (byte b in bytes)
            if (!_matcher.Advance(ref next, b))
                throw new InvalidOperationException(
                    $"The token's bytes do not continue the constrained document (byte 0x{b:X2}); it should have been masked.");
        _state = next;
    }

    private ulong[] CurrentMask()
    {
        if (_first && _stripLeadingSpace)
            return Walk(); // the first token's leading space is dropped by the decoder: a state of its own
        ulong hash = TokenMaskCache.Hash(_state, _arena);
        if (_cache.Find(_state, _arena, hash) is { } entry)
            return entry.Mask;
        return _cache.Add(_state, _arena, hash, Walk()).Mask;
    }

    /// <summary>
    /// Walks the token trie in preorder with the parser state of each node's parent at depth − 1: a byte the grammar
    /// refuses skips its whole subtree. Allocates only the mask it returns.
    /// </summary>
    private ulong[] Walk()
    {
        var mask = new ulong[(_trie.TokenCount + 63) / 64];
        int mark = _arena.Length;
        var label = _trie.Label;
        var depth = _trie.Depth;
        var skip = _trie.SubtreeEnd;
        var tokenStart = _trie.TokenStart;
        var tokenIds = _trie.TokenIds;
        var walk = _walk;
        walk[0] = _state;
        bool strip = _first && _stripLeadingSpace;
        int n = label.Length;
        int i = 1;
        while (i < n)
        {
            int d = depth[i];
            var s = walk[d - 1];
            if (strip && d == 1 && label[i] == (byte)' ')
            {
                // Dropped by the decoder: the state does not move, and a token that is only this space adds nothing.
                walk[1] = s;
                i++;
                continue;
            }
            if (!_matcher.Advance(ref s, label[i]))
            {
                i = skip[i];
                continue;
            }
            walk[d] = s;
            for (int k = tokenStart[i]; k < tokenStart[i + 1]; k++)
            {
                int t = tokenIds[k];
                mask[t >> 6] |= 1UL << (t & 63);
            }
            i++;
        }
        _arena.Truncate(mark);
        return mask;
    }
}
