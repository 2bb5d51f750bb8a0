using System.Text.Json;

namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// The parts of a Hugging Face <c>tokenizer.json</c> that building a tokenizer needs: the BPE model's vocabulary
/// and merges, the added tokens, and the normalizer, pre-tokenizer, post-processor and decoder sections
/// (kept as JSON; <see cref="TextTokenizer"/> decides what it supports). Errors name the file and the field.
/// </summary>
internal sealed class TokenizerJson
{
    public required string Path { get; init; }
    public required Dictionary<string, int> Vocab { get; init; }
    public required List<string> Merges { get; init; }
    public required List<AddedToken> AddedTokens { get; init; }
    public bool ByteFallback { get; init; }
    public string? UnknownToken { get; init; }
    public string? ContinuingSubwordPrefix { get; init; }
    public string? EndOfWordSuffix { get; init; }
    public bool IgnoreMerges { get; init; }
    public JsonElement? Normalizer { get; init; }
    public JsonElement? PreTokenizer { get; init; }
    public JsonElement? PostProcessor { get; init; }
    public JsonElement? Decoder { get; init; }

    public static TokenizerJson Load(string path)
    {
        JsonDocument doc;
        try
        {
            using var stream = File.OpenRead(path);
            doc = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"{path}: not valid JSON ({e.Message}).", e);
        }

        using (doc)
            return Parse(path, doc.RootElement);
    }

    private static TokenizerJson Parse(string path, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new TokenizerException($"{path}: must be a JSON object (a Hugging Face tokenizers file).");
        if (!root.TryGetProperty("model", out JsonElement model) || model.ValueKind != JsonValueKind.Object)
            throw new TokenizerException($"{path}: has no 'model' object; this is not a Hugging Face tokenizers file.");

        string type = model.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : model.TryGetProperty("merges", out _) ? "BPE" : "(none)";
        if (type != "BPE")
            throw new TokenizerException(
                $"{path}: tokenizer model type '{type}' is not supported; supported are BPE models, byte-level " +
                "(GPT-2, Llama 3, Qwen) or SentencePiece-style with byte fallback (Llama 2, Mistral, Gemma).");
        if (model.TryGetProperty("dropout", out JsonElement dropout) && dropout.ValueKind == JsonValueKind.Number
            && dropout.GetDouble() > 0)
            throw new TokenizerException($"{path}: BPE dropout {dropout.GetDouble()} is not supported (inference needs deterministic ids).");

        if (!model.TryGetProperty("vocab", out JsonElement vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
            throw new TokenizerException($"{path}: model.vocab must be an object of token → id.");
        var vocab = new Dictionary<string, int>();
        foreach (JsonProperty p in vocabElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw new TokenizerException($"{path}: model.vocab['{p.Name}'] must be a non-negative integer id.");
            vocab[p.Name] = id;
        }

        var merges = new List<string>();
        if (model.TryGetProperty("merges", out JsonElement mergesElement) && mergesElement.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement m in mergesElement.EnumerateArray())
            {
                // Older files write "a b"; newer ones ["a", "b"] (which allows spaces inside a part).
                if (m.ValueKind == JsonValueKind.String)
                    merges.Add(m.GetString()!);
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                {
                    string a = m[0].GetString() ?? "", b = m[1].GetString() ?? "";
                    if (a.Contains(' ') || b.Contains(' '))
                        throw new TokenizerException($"{path}: merge [\"{a}\", \"{b}\"] contains a space, which the BPE engine cannot represent.");
                    merges.Add(a + " " + b);
                }
                else
                    throw new TokenizerException($"{path}: model.merges entries must be \"a b\" strings or [a, b] pairs.");
            }
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out JsonElement addedElement) && addedElement.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement a in addedElement.EnumerateArray())
            {
                if (!a.TryGetProperty("id", out JsonElement idEl) || !idEl.TryGetInt32(out int id)
                    || !a.TryGetProperty("content", out JsonElement contentEl) || contentEl.GetString() is not { Length: > 0 } content)
                    throw new TokenizerException($"{path}: every added_tokens entry needs an integer 'id' and a non-empty 'content'.");
                bool special = a.TryGetProperty("special", out JsonElement s) && s.ValueKind == JsonValueKind.True;
                added.Add(new AddedToken(id, content, special)
                {
                    LStrip = Bool(a, "lstrip"),
                    RStrip = Bool(a, "rstrip"),
                    SingleWord = Bool(a, "single_word"),
                });
            }
        }

        return new TokenizerJson
        {
            Path = path,
            Vocab = vocab,
            Merges = merges,
            AddedTokens = added,
            ByteFallback = Bool(model, "byte_fallback"),
            UnknownToken = String(model, "unk_token"),
            ContinuingSubwordPrefix = String(model, "continuing_subword_prefix"),
            EndOfWordSuffix = String(model, "end_of_word_suffix"),
            IgnoreMerges = Bool(model, "ignore_merges"),
            Normalizer = Section(root, "normalizer"),
            PreTokenizer = Section(root, "pre_tokenizer"),
            PostProcessor = Section(root, "post_processor"),
            Decoder = Section(root, "decoder"),
        };
    }

    /// <summary>The id of a token, looked up among the added tokens first, then the model's vocabulary.</summary>
    public int? IdOf(string token)
    {
        foreach (AddedToken a in AddedTokens)
            if (a.Content == token)
                return a.Id;
        return Vocab.TryGetValue(token, out int id) ? id : null;
    }

    internal static string TypeOf(JsonElement section) =>
        section.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "(untyped)";

    /// <summary>Whether a component section is, or (in a Sequence) contains, a component of the given type.</summary>
    internal static bool Mentions(JsonElement? section, string type)
    {
        if (section is not { } s)
            return false;
        if (TypeOf(s) == type)
            return true;
        foreach (string listName in (string[])["pretokenizers", "decoders", "normalizers", "processors"])
            if (s.TryGetProperty(listName, out JsonElement list) && list.ValueKind == JsonValueKind.Array
                && list.EnumerateArray().Any(e => Mentions(e, type)))
                return true;
        return false;
    }

    internal static bool Bool(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.True;

    internal static string? String(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    // Cloned: the sections outlive the document, which is disposed once the vocabulary is read.
    private static JsonElement? Section(JsonElement root, string name) =>
        root.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Object ? v.Clone() : null;
}
