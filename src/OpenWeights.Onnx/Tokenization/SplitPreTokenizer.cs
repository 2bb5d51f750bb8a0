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
        Split(text, 0, text.Length, 0, pieces);
        return pieces;
    }

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
