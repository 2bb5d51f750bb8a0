using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// SentencePiece-style BPE from <c>tokenizer.json</c> (Llama 2, Mistral, Gemma: '▁' for spaces, &lt;0xNN&gt; byte
/// fallback). The merges run on Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> with the file's merge list (as
/// Hugging Face applies it: by rank, leftmost first); the text is normalized and pre-tokenized here as the file's
/// normalizer (Prepend/Replace/Unicode forms) and pre-tokenizer (Metaspace, or none) say, per stretch of text between
/// added tokens as Hugging Face does; a character the vocabulary lacks becomes its UTF-8 bytes' &lt;0xNN&gt; pieces.
/// </summary>
/// <remarks>
/// The library's SentencePiece engine (<see cref="LlamaTokenizer"/> on a model built from the vocabulary) was tried
/// first: it breaks ties between equal merges rightmost-first, where SentencePiece and Hugging Face go leftmost-first,
/// so runs such as "........." or indentation ("▁▁▁▁▁▁▁▁") came out differently.
/// </remarks>
internal static class SentencePieceBpe
{
    private static readonly Regex BytePiece = new("^<0x[0-9A-Fa-f]{2}>$", RegexOptions.CultureInvariant);

    public static bool Applies(TokenizerJson json) =>
        json.ByteFallback
        || TokenizerJson.Mentions(json.PreTokenizer, "Metaspace") || TokenizerJson.Mentions(json.Decoder, "Metaspace") || TokenizerJson.Mentions(json.Decoder, "ByteFallback")
        || json.Vocab.Keys.Any(k => k.StartsWith('▁'));

    public static (Func<string, bool, IReadOnlyList<int>> Encode, TokenByteTable Table) Build(TokenizerJson json, int count)
    {
        string path = json.Path;
        if (!json.ByteFallback)
            throw new TokenizerException($"{path}: SentencePiece-style BPE without byte_fallback is not supported (unknown characters would need <unk> fusing).");
        if (!string.IsNullOrEmpty(json.ContinuingSubwordPrefix) || !string.IsNullOrEmpty(json.EndOfWordSuffix))
            throw new TokenizerException($"{path}: continuing_subword_prefix/end_of_word_suffix are not supported with SentencePiece-style BPE.");
        if (json.UnknownToken is not { } unk || json.IdOf(unk) is not { } unkId)
            throw new TokenizerException($"{path}: SentencePiece-style BPE needs an unk_token that is in the vocabulary.");
        for (int b = 0; b < 256; b++)
            if (!json.Vocab.TryGetValue($"<0x{b:X2}>", out int id) || id != json.Vocab["<0x00>"] + b)
                throw new TokenizerException($"{path}: byte fallback needs the 256 pieces <0x00>..<0xFF> at consecutive ids.");

        List<Func<string, string>> normalize = Normalizer(json.Normalizer, path);
        Metaspace? metaspace = PreTokenizer(json.PreTokenizer, json.Normalizer, path);
        (bool byteFallback, bool strip, List<(string From, string To)> replacements) = Decoder(json.Decoder, path);

        BpeTokenizer engine = Engine(json);
        int byteOffset = json.Vocab["<0x00>"];
        IReadOnlyList<int> EncodeWord(string text)
        {
            if (text.Length == 0)
                return [];
            IReadOnlyList<EncodedToken> tokens = engine.EncodeToTokens(text, out _, considerPreTokenization: true, considerNormalization: false);
            var ids = new List<int>(tokens.Count);
            foreach (EncodedToken token in tokens)
            {
                if (token.Id != unkId)
                {
                    ids.Add(token.Id);
                    continue;
                }
                // byte_fallback: a character missing from the vocabulary becomes its UTF-8 bytes.
                (int offset, int length) = token.Offset.GetOffsetAndLength(text.Length);
                foreach (byte b in Encoding.UTF8.GetBytes(text.Substring(offset, length)))
                    ids.Add(byteOffset + b);
            }
            return ids;
        }

        IReadOnlyList<int> EncodeSegment(string segment, bool atStart)
        {
            string text = segment;
            foreach (Func<string, string> step in normalize)
                text = step(text);
            if (metaspace is { } m)
            {
                text = text.Replace(' ', m.Replacement);
                if ((m.PrependAlways || (m.PrependFirst && atStart)) && !text.StartsWith(m.Replacement))
                    text = m.Replacement + text;
                if (m.Split)
                    return SplitBefore(text, m.Replacement).SelectMany(EncodeWord).ToArray();
            }
            return EncodeWord(text);
        }

        // Decoding: the pieces with the decoder's Replace steps applied (▁ → space), <0xNN> as that byte.
        var table = TokenByteTable.ForPieces(json, count, (piece, output) =>
        {
            if (byteFallback && BytePiece.IsMatch(piece))
            {
                output.Add(Convert.ToByte(piece.Substring(3, 2), 16));
                return;
            }
            foreach (var (from, to) in replacements)
                piece = piece.Replace(from, to);
            output.AddRange(Encoding.UTF8.GetBytes(piece));
        }, strip);
        return (EncodeSegment, table);
    }

    /// <summary>Splits before every <paramref name="separator"/> (Hugging Face's MergedWithNext).</summary>
    private static IEnumerable<string> SplitBefore(string text, char separator)
    {
        int start = 0;
        for (int i = 1; i < text.Length; i++)
        {
            if (text[i] == separator)
            {
                yield return text[start..i];
                start = i;
            }
        }
        if (start < text.Length)
            yield return text[start..];
    }

    private static BpeTokenizer Engine(TokenizerJson json)
    {
        try
        {
            // One piece per call (the caller splits for Metaspace): no regex pre-tokenization, no normalizer.
            return BpeTokenizer.Create(new BpeOptions(json.Vocab)
            {
                Merges = json.Merges,
                PreTokenizer = new SplitPreTokenizer([]),
                UnknownToken = json.UnknownToken,
                FuseUnknownTokens = false,
            });
        }
        catch (InvalidOperationException e)
        {
            throw new TokenizerException($"{json.Path}: the BPE model is inconsistent ({e.Message}).", e);
        }
    }

    private sealed record Metaspace(char Replacement, bool PrependAlways, bool PrependFirst, bool Split);

    private static List<Func<string, string>> Normalizer(JsonElement? section, string path)
    {
        var steps = new List<Func<string, string>>();
        if (section is { } s)
            CollectNormalizer(s, steps, path);
        return steps;
    }

    private static void CollectNormalizer(JsonElement s, List<Func<string, string>> steps, string path)
    {
        string type = TokenizerJson.TypeOf(s);
        switch (type)
        {
            case "Sequence" when s.TryGetProperty("normalizers", out JsonElement list) && list.ValueKind == JsonValueKind.Array:
                foreach (JsonElement inner in list.EnumerateArray())
                    CollectNormalizer(inner, steps, path);
                return;
            case "Prepend" when TokenizerJson.String(s, "prepend") is { } prefix:
                steps.Add(t => t.Length == 0 ? t : prefix + t);
                return;
            case "Replace":
                steps.Add(Replacement(s, path));
                return;
            case "NFC" or "NFD" or "NFKC" or "NFKD" or "Lowercase":
                HfNormalizer unicode = HfNormalizer.FromJson(s, path)!;
                steps.Add(unicode.Normalize);
                return;
            default:
                throw new TokenizerException(
                    $"{path}: normalizer '{type}' is not supported for SentencePiece-style BPE; supported are Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase and Sequences of them.");
        }
    }

    private static Func<string, string> Replacement(JsonElement s, string path)
    {
        string content = TokenizerJson.String(s, "content") ?? "";
        if (s.TryGetProperty("pattern", out JsonElement pattern))
        {
            if (TokenizerJson.String(pattern, "String") is { Length: > 0 } literal)
                return t => t.Replace(literal, content, StringComparison.Ordinal);
            if (TokenizerJson.String(pattern, "Regex") is { } regex)
            {
                var compiled = new Regex(regex, RegexOptions.CultureInvariant);
                return t => compiled.Replace(t, content);
            }
        }
        throw new TokenizerException($"{path}: Replace needs a pattern {{\"String\": ...}} or {{\"Regex\": ...}}.");
    }

    private static Metaspace? PreTokenizer(JsonElement? section, JsonElement? normalizer, string path)
    {
        if (section is not { } s)
            return null;
        string type = TokenizerJson.TypeOf(s);
        switch (type)
        {
            case "Metaspace":
            {
                string replacement = TokenizerJson.String(s, "replacement") ?? "▁";
                if (replacement.Length != 1)
                    throw new TokenizerException($"{path}: Metaspace replacement '{replacement}' must be one character.");
                // Newer files say prepend_scheme (always/first/never); older ones add_prefix_space (true = always).
                string scheme = TokenizerJson.String(s, "prepend_scheme")
                                ?? (s.TryGetProperty("add_prefix_space", out JsonElement aps) && aps.ValueKind == JsonValueKind.False ? "never" : "always");
                bool split = !s.TryGetProperty("split", out JsonElement sp) || sp.ValueKind != JsonValueKind.False;
                return scheme switch
                {
                    "always" => new Metaspace(replacement[0], true, false, split),
                    "first" => new Metaspace(replacement[0], false, true, split),
                    "never" => new Metaspace(replacement[0], false, false, split),
                    _ => throw new TokenizerException($"{path}: Metaspace prepend_scheme '{scheme}' is not supported."),
                };
            }
            // Gemma: Split on " " after a normalizer that already turned every space into '▁' splits nothing.
            case "Split" when s.TryGetProperty("pattern", out JsonElement p) && TokenizerJson.String(p, "String") == " "
                              && normalizer is { } n && ReplacesSpaces(n):
                return null;
            case "Sequence" when s.TryGetProperty("pretokenizers", out JsonElement list) && list.GetArrayLength() == 1:
                return PreTokenizer(list[0], normalizer, path);
            default:
                throw new TokenizerException(
                    $"{path}: pre-tokenizer '{type}' is not supported for SentencePiece-style BPE; supported are Metaspace, none, or Split on \" \" after a normalizer that replaces spaces with '▁'.");
        }
    }

    private static bool ReplacesSpaces(JsonElement normalizer)
    {
        if (TokenizerJson.TypeOf(normalizer) == "Replace" && normalizer.TryGetProperty("pattern", out JsonElement p)
            && TokenizerJson.String(p, "String") == " ")
            return true;
        return normalizer.TryGetProperty("normalizers", out JsonElement list) && list.ValueKind == JsonValueKind.Array
               && list.EnumerateArray().Any(ReplacesSpaces);
    }

    private static (bool ByteFallback, bool Strip, List<(string, string)> Replacements) Decoder(JsonElement? section, string path)
    {
        bool byteFallback = false, strip = false;
        var replacements = new List<(string, string)>();
        if (section is not { } d)
            throw new TokenizerException($"{path}: SentencePiece-style BPE needs a decoder (Replace '▁' → ' ', ByteFallback, Fuse, Strip, or Metaspace).");
        IEnumerable<JsonElement> steps = TokenizerJson.TypeOf(d) == "Sequence" && d.TryGetProperty("decoders", out JsonElement list)
            ? list.EnumerateArray()
            : [d];
        foreach (JsonElement step in steps)
        {
            string type = TokenizerJson.TypeOf(step);
            switch (type)
            {
                case "Replace" when step.TryGetProperty("pattern", out JsonElement p) && TokenizerJson.String(p, "String") is { Length: > 0 } from:
                    replacements.Add((from, TokenizerJson.String(step, "content") ?? ""));
                    break;
                case "ByteFallback":
                    byteFallback = true;
                    break;
                case "Fuse":
                    break;
                case "Strip" when TokenizerJson.String(step, "content") == " "
                                  && step.TryGetProperty("start", out JsonElement start) && start.GetInt32() <= 1
                                  && (!step.TryGetProperty("stop", out JsonElement stop) || stop.GetInt32() == 0):
                    strip = start.GetInt32() == 1;
                    break;
                case "Metaspace":
                {
                    string replacement = TokenizerJson.String(step, "replacement") ?? "▁";
                    replacements.Add((replacement, " "));
                    string scheme = TokenizerJson.String(step, "prepend_scheme")
                                    ?? (step.TryGetProperty("add_prefix_space", out JsonElement aps) && aps.ValueKind == JsonValueKind.False ? "never" : "always");
                    strip = scheme != "never";
                    break;
                }
                default:
                    throw new TokenizerException(
                        $"{path}: decoder step '{type}' is not supported for SentencePiece-style BPE; supported are Replace (string), ByteFallback, Fuse, Strip (one leading space) and Metaspace.");
            }
        }
        return (byteFallback, strip, replacements);
    }
}
