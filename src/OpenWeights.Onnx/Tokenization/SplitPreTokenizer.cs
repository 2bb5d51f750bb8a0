using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// Hugging Face's Split/ByteLevel pre-tokenization as a Microsoft.ML.Tokenizers <see cref="PreTokenizer"/>: the text
/// is split by each regex of the sequence in turn with the "Isolated" behaviour (matches and the gaps between them
/// both become pieces, and every piece is split again by the next regex). Added tokens never reach it: the
/// <see cref="TextTokenizer"/> cuts them out first, as Hugging Face does.
/// </summary>
/// <remarks>
/// .NET regexes see UTF-16 code units, so a character outside the BMP (an emoji, 𝐀, 𠀀) is two surrogates that
/// are not \p{L}, \p{So}, ...: "🤗abc" would split as "🤗" + "abc" where Hugging Face (which matches code points)
/// keeps one piece, and the ids can differ. So the regexes run on a copy of the text in which each such character
/// is replaced by one BMP stand-in of the same Unicode category, and the pieces are mapped back.
/// The library's <see cref="RegexPreTokenizer"/> drops text that its regex does not match, and its
/// <see cref="CompositePreTokenizer"/> does not split the matches of one regex by the next; both are fine for the
/// usual single GPT-2/Llama 3/Qwen pattern (which matches everything) but not for Split sequences in general.
/// </remarks>
internal sealed class SplitPreTokenizer(IReadOnlyList<Regex> splits) : PreTokenizer
{
    private readonly Regex[] _splits = splits.ToArray();

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        if (string.IsNullOrEmpty(text))
            return [];
        var pieces = new List<(int Offset, int Length)>();
        if (text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            Split(text, 0, text.Length, 0, pieces);
            return pieces;
        }
        (string standIns, int[] original) = ReplaceSupplementaryCharacters(text);
        Split(standIns, 0, standIns.Length, 0, pieces);
        for (int i = 0; i < pieces.Count; i++)
        {
            (int offset, int length) = pieces[i];
            pieces[i] = (original[offset], original[offset + length] - original[offset]);
        }
        return pieces;
    }

    /// <summary>
    /// The text with every surrogate pair replaced by one BMP character of the same category, and for each index of
    /// that copy (and its end) the index in the original text.
    /// </summary>
    private static (string StandIns, int[] Original) ReplaceSupplementaryCharacters(string text)
    {
        var chars = new char[text.Length];
        var original = new int[text.Length + 1];
        int n = 0;
        for (int i = 0; i < text.Length; n++)
        {
            original[n] = i;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                chars[n] = StandIn(CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1])));
                i += 2;
            }
            else
                chars[n] = text[i++];
        }
        original[n] = text.Length;
        return (new string(chars, 0, n), original);
    }

    /// <summary>
    /// A BMP character of the given category that no split pattern names literally (none is ASCII or folds to ASCII).
    /// Supplementary characters are never whitespace or controls, so those categories need none.
    /// </summary>
    internal static char StandIn(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u0100',      // Ā
        UnicodeCategory.LowercaseLetter => '\u0101',      // ā
        UnicodeCategory.TitlecaseLetter => '\u01C5',      // ǅ
        UnicodeCategory.ModifierLetter => '\u02B0',       // ʰ
        UnicodeCategory.OtherLetter => '\u05D0',          // א
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',   // ٠
        UnicodeCategory.LetterNumber => '\u2160',         // Ⅰ
        UnicodeCategory.OtherNumber => '\u00B2',          // ²
        UnicodeCategory.ConnectorPunctuation => '\u203F', // ‿
        UnicodeCategory.DashPunctuation => '\u2010',      // ‐
        UnicodeCategory.OpenPunctuation => '\u2045',      // ⁅
        UnicodeCategory.ClosePunctuation => '\u2046',     // ⁆
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00B6',     // ¶
        UnicodeCategory.MathSymbol => '\u00AC',           // ¬
        UnicodeCategory.CurrencySymbol => '\u00A2',       // ¢
        UnicodeCategory.ModifierSymbol => '\u00B4',       // ´
        UnicodeCategory.OtherSymbol => '\u00A6',          // ¦
        UnicodeCategory.Format => '\u00AD',               // soft hyphen
        UnicodeCategory.PrivateUse => '\uE000',
        _ => '\u0378',                                    // unassigned
    };

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());

    private void Split(string text, int offset, int length, int level, List<(int Offset, int Length)> pieces)
    {
        if (length == 0)
            return;
        if (level == _splits.Length)
        {
            pieces.Add((offset, length));
            return;
        }
        // Each piece is matched on its own, so lookarounds do not see past its ends (as in Hugging Face).
        ReadOnlySpan<char> piece = text.AsSpan(offset, length);
        int position = 0;
        foreach (ValueMatch m in _splits[level].EnumerateMatches(piece))
        {
            if (m.Length == 0)
                continue;
            Split(text, offset + position, m.Index - position, level + 1, pieces);
            Split(text, offset + m.Index, m.Length, level + 1, pieces);
            position = m.Index + m.Length;
        }
        Split(text, offset + position, length - position, level + 1, pieces);
    }
}
