using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// The <c>normalizer</c> of a byte-level <c>tokenizer.json</c> as a Microsoft.ML.Tokenizers <see cref="Normalizer"/>:
/// Unicode forms (NFC, NFKC, NFD, NFKD) and Lowercase, alone or in a Sequence. Anything else is refused by name.
/// </summary>
internal sealed class HfNormalizer : Normalizer
{
    private readonly IReadOnlyList<Func<string, string>> _steps;

    private HfNormalizer(IReadOnlyList<Func<string, string>> steps) => _steps = steps;

    /// <returns>null when the file names no normalizer (or an empty sequence).</returns>
    public static HfNormalizer? FromJson(JsonElement? section, string path)
    {
        if (section is not { } s)
            return null;
        var steps = new List<Func<string, string>>();
        Collect(s, steps, path);
        return steps.Count == 0 ? null : new HfNormalizer(steps);
    }

    private static void Collect(JsonElement s, List<Func<string, string>> steps, string path)
    {
        string type = TokenizerJson.TypeOf(s);
        switch (type)
        {
            case "NFC": steps.Add(t => ToForm(t, NormalizationForm.FormC)); break;
            case "NFD": steps.Add(t => ToForm(t, NormalizationForm.FormD)); break;
            case "NFKC": steps.Add(t => ToForm(t, NormalizationForm.FormKC)); break;
            case "NFKD": steps.Add(t => ToForm(t, NormalizationForm.FormKD)); break;
            case "Lowercase": steps.Add(t => t.ToLowerInvariant()); break;
            case "Sequence" when s.TryGetProperty("normalizers", out JsonElement list) && list.ValueKind == JsonValueKind.Array:
                foreach (JsonElement inner in list.EnumerateArray())
                    Collect(inner, steps, path);
                break;
            default:
                throw new TokenizerException(
                    $"{path}: normalizer '{type}' is not supported for a byte-level BPE tokenizer; supported are NFC, NFD, NFKC, NFKD, Lowercase and Sequences of them.");
        }
    }

    private static string ToForm(string text, NormalizationForm form)
    {
        try
        {
            return text.IsNormalized(form) ? text : text.Normalize(form);
        }
        catch (ArgumentException)
        {
            return text; // a lone surrogate: .NET refuses to normalize it; leave the text as it is
        }
    }

    public override string Normalize(string original)
    {
        string text = original;
        foreach (Func<string, string> step in _steps)
            text = step(text);
        return text;
    }

    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
}
