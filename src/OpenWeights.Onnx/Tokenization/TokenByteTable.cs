namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// The UTF-8 bytes each token id stands for, precomputed once in one contiguous array, so that decoding (whole or
/// streaming) is a table look-up per token and never re-runs a decoder over strings. Decoding is then: concatenate
/// the bytes of the kept tokens, drop one leading space when the decoder strips it (SentencePiece's dummy prefix),
/// and read the bytes as UTF-8 with U+FFFD for invalid sequences (as Hugging Face's <c>from_utf8_lossy</c>).
/// </summary>
internal sealed class TokenByteTable
{
    private readonly byte[] _bytes;
    private readonly int[] _offsets; // token id → start in _bytes; _offsets[id + 1] − _offsets[id] is its length
    private readonly bool[] _special;
    private readonly bool[] _known;

    /// <summary>Whether the decoder strips one leading space from the text (SentencePiece's dummy prefix).</summary>
    public bool StripLeadingSpace { get; }

    public int Count => _special.Length;

    /// <param name="count">ids 0..count−1 are tabulated.</param>
    /// <param name="tokenBytes">appends the bytes of one token id, or returns false for an id nothing defines.</param>
    /// <param name="isSpecial">whether an id is dropped by skip_special_tokens.</param>
    private TokenByteTable(int count, Func<int, List<byte>, bool> tokenBytes, Func<int, bool> isSpecial, bool stripLeadingSpace)
    {
        StripLeadingSpace = stripLeadingSpace;
        _offsets = new int[count + 1];
        _special = new bool[count];
        _known = new bool[count];
        var all = new List<byte>(count * 6);
        for (int id = 0; id < count; id++)
        {
            _offsets[id] = all.Count;
            _known[id] = tokenBytes(id, all);
            _special[id] = isSpecial(id);
        }
        _offsets[count] = all.Count;
        _bytes = all.ToArray();
    }

    /// <summary>
    /// The table for a <c>tokenizer.json</c>: every vocabulary entry and added token (which win for a shared id) turned
    /// into bytes by <paramref name="appendPieceBytes"/>; special = the added tokens marked special.
    /// </summary>
    public static TokenByteTable ForPieces(TokenizerJson json, int count, Action<string, List<byte>> appendPieceBytes, bool stripLeadingSpace)
    {
        var pieces = new string?[count];
        foreach (var (token, id) in json.Vocab)
            pieces[id] = token;
        var special = new bool[count];
        foreach (AddedToken a in json.AddedTokens)
        {
            pieces[a.Id] = a.Content;
            special[a.Id] = a.Special;
        }
        return new TokenByteTable(count,
            (id, output) =>
            {
                if (pieces[id] is not { } piece)
                    return false;
                appendPieceBytes(piece, output);
                return true;
            },
            id => special[id], stripLeadingSpace);
    }

    public bool IsSpecial(int id) => (uint)id < (uint)_special.Length && _special[id];

    public bool IsKnown(int id) => (uint)id < (uint)_known.Length && _known[id];

    /// <summary>
    /// The bytes a token contributes to decoded text: empty for ids nothing defines (Hugging Face skips them) and for
    /// special tokens when they are skipped.
    /// </summary>
    public ReadOnlySpan<byte> BytesOf(int id, bool skipSpecialTokens)
    {
        if ((uint)id >= (uint)_special.Length || (skipSpecialTokens && _special[id]))
            return default;
        return _bytes.AsSpan(_offsets[id], _offsets[id + 1] - _offsets[id]);
    }
}
