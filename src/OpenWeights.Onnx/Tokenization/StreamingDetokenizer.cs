using System.Text;

namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// Turns generated token ids into text as they arrive. A token may end in the middle of a UTF-8 character (an emoji
/// or CJK character is often split over two or three byte-level tokens); those bytes are held back until the
/// character is complete, so no fragment ever contains half a character or a spurious U+FFFD. The fragments, followed
/// by <see cref="Flush"/>, concatenate to exactly <see cref="TextTokenizer.Decode(ReadOnlySpan{int}, bool)"/> of all ids.
/// </summary>
/// <remarks>
/// Reuses one UTF-8 decoder and one character buffer: a call allocates at most the returned string
/// (<see cref="NextChars"/> allocates nothing). Not thread-safe; use one per generation stream.
/// </remarks>
public sealed class StreamingDetokenizer
{
    private readonly TokenByteTable _table;
    private readonly bool _skipSpecialTokens;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private char[] _chars = new char[64];
    private bool _stripPending;

    public StreamingDetokenizer(TextTokenizer tokenizer, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _table = tokenizer.Bytes;
        _skipSpecialTokens = skipSpecialTokens;
        _stripPending = _table.StripLeadingSpace;
    }

    /// <summary>Adds one token and returns the text it completes ("" while a character is still incomplete).</summary>
    public string Next(int tokenId)
    {
        ReadOnlySpan<char> chars = NextChars(tokenId);
        return chars.IsEmpty ? string.Empty : new string(chars);
    }

    /// <summary>
    /// Adds one token and returns the text it completes as a span over an internal buffer, valid until the next call.
    /// </summary>
    public ReadOnlySpan<char> NextChars(int tokenId)
    {
        ReadOnlySpan<byte> bytes = _table.BytesOf(tokenId, _skipSpecialTokens);
        if (bytes.IsEmpty)
            return default;
        if (_stripPending)
        {
            _stripPending = false;
            if (bytes[0] == (byte)' ')
                bytes = bytes[1..];
        }
        return Convert(bytes, flush: false);
    }

    /// <summary>
    /// Ends the stream: bytes still held back (a character the ids never completed) come out as U+FFFD, as a whole
    /// decode would give them. The detokenizer is then ready for a new stream.
    /// </summary>
    public string Flush()
    {
        ReadOnlySpan<char> chars = Convert([], flush: true);
        _stripPending = _table.StripLeadingSpace;
        return chars.IsEmpty ? string.Empty : new string(chars);
    }

    /// <summary>Forgets held-back bytes and starts a new stream.</summary>
    public void Reset()
    {
        _utf8.Reset();
        _stripPending = _table.StripLeadingSpace;
    }

    private ReadOnlySpan<char> Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        // At most one char per byte, plus what held-back bytes (≤ 3) can produce.
        int needed = bytes.Length + 4;
        if (_chars.Length < needed)
            _chars = new char[Math.Max(needed, _chars.Length * 2)];
        int count = _utf8.GetChars(bytes, _chars, flush);
        return _chars.AsSpan(0, count);
    }
}
