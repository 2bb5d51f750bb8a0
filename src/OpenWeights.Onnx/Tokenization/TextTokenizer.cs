using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// A model folder's tokenizer, built from its Hugging Face <c>tokenizer.json</c> (with <c>tokenizer_config.json</c>
/// and <c>generation_config.json</c> when present) on Microsoft.ML.Tokenizers, and giving the ids Hugging Face's
/// tokenizers give. Supported: byte-level BPE (GPT-2, Llama 3, Qwen) and SentencePiece-style BPE with byte fallback
/// (Llama 2, Mistral, Gemma). Anything else is refused with a <see cref="TokenizerException"/> naming the file.
/// </summary>
/// <remarks>Thread-safe for concurrent Encode/Decode; each <see cref="StreamingDetokenizer"/> is single-threaded.</remarks>
public sealed class TextTokenizer
{
    // GPT-2's split pattern, which a ByteLevel pre-tokenizer with use_regex = true applies.
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly Func<string, bool, IReadOnlyList<int>> _encodeSegment;
    private readonly Regex? _addedTokenPattern;
    private readonly int[] _addedTokenGroupIds; // regex group number → token id
    private readonly int[] _prefixIds;
    private readonly int[] _suffixIds;
    private readonly Dictionary<int, string> _idToToken;
    private readonly Dictionary<string, int> _tokenToId;

    internal TokenByteTable Bytes { get; }

    /// <summary>The <c>tokenizer.json</c> this tokenizer was built from.</summary>
    public string SourcePath { get; }

    /// <summary>Number of ids the tokenizer defines (highest id + 1; the model's embedding may have more rows).</summary>
    public int VocabSize => Bytes.Count;

    public int? BosTokenId { get; }
    /// <summary>Ids that end generation: <c>tokenizer_config.json</c>'s eos_token and <c>generation_config.json</c>'s eos_token_id.</summary>
    public IReadOnlyList<int> EosTokenIds { get; }
    public int? PadTokenId { get; }

    /// <summary>The default chat template (a Jinja string), or null when the model ships none.</summary>
    public string? ChatTemplate { get; }
    /// <summary>Named chat templates (e.g. "tool_use") when the config lists several; empty otherwise.</summary>
    public IReadOnlyDictionary<string, string> NamedChatTemplates { get; }

    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>Ids that <c>add_special_tokens</c> puts before the text (e.g. BOS), from the post-processor.</summary>
    public IReadOnlyList<int> PrefixTokenIds => _prefixIds;
    /// <summary>Ids that <c>add_special_tokens</c> puts after the text.</summary>
    public IReadOnlyList<int> SuffixTokenIds => _suffixIds;

    private TextTokenizer(string sourcePath, TokenizerJson json, TokenizerConfig config, GenerationConfig generation,
        Func<string, bool, IReadOnlyList<int>> encodeSegment, TokenByteTable bytes, (int[] Prefix, int[] Suffix) specials)
    {
        SourcePath = sourcePath;
        _encodeSegment = encodeSegment;
        Bytes = bytes;
        _prefixIds = specials.Prefix;
        _suffixIds = specials.Suffix;
        AddedTokens = json.AddedTokens;

        _tokenToId = new Dictionary<string, int>(json.Vocab);
        foreach (AddedToken a in json.AddedTokens)
            _tokenToId[a.Content] = a.Id;
        _idToToken = new Dictionary<int, string>(_tokenToId.Count);
        foreach (var (token, id) in json.Vocab)
            _idToToken[id] = token;
        foreach (AddedToken a in json.AddedTokens)
            _idToToken[a.Id] = a.Content;

        (_addedTokenPattern, _addedTokenGroupIds) = AddedTokenPattern(json.AddedTokens);

        BosTokenId = config.BosToken is { } bos ? TokenToId(bos) : null;
        PadTokenId = config.PadToken is { } pad ? TokenToId(pad) : null;
        var eos = new List<int>();
        if (config.EosToken is { } e && TokenToId(e) is { } eosId)
            eos.Add(eosId);
        foreach (int id in generation.EosTokenIds)
            if (!eos.Contains(id))
                eos.Add(id);
        EosTokenIds = eos;
        ChatTemplate = config.ChatTemplate;
        NamedChatTemplates = config.NamedChatTemplates;
    }

    /// <summary>Loads the tokenizer of a Hugging Face model folder (<c>tokenizer.json</c> is required).</summary>
    public static TextTokenizer FromFolder(string modelFolder)
    {
        if (!Directory.Exists(modelFolder))
            throw new TokenizerException($"{modelFolder}: model folder not found (looking for tokenizer.json).");
        string path = Path.Combine(modelFolder, "tokenizer.json");
        if (!File.Exists(path))
        {
            string hint = File.Exists(Path.Combine(modelFolder, "tokenizer.model"))
                ? " The folder has only a SentencePiece tokenizer.model; convert it to tokenizer.json with Hugging Face's tokenizers (e.g. save a fast tokenizer)."
                : "";
            throw new TokenizerException(
                $"{modelFolder}: tokenizer.json not found; a tokenizer is built from the model folder's tokenizer.json (Hugging Face tokenizers format).{hint}");
        }

        TokenizerJson json = TokenizerJson.Load(path);
        TokenizerConfig config = TokenizerConfig.Load(modelFolder);
        GenerationConfig generation;
        try
        {
            generation = GenerationConfig.Load(Path.Combine(modelFolder, "generation_config.json"));
        }
        catch (Exception ex) when (ex is Checkpoints.CheckpointException or JsonException or InvalidOperationException or FormatException)
        {
            generation = new GenerationConfig(); // EOS ids from it are a convenience; a broken file is reported by the converter
        }

        int count = json.Vocab.Count == 0 ? 0 : json.Vocab.Values.Max() + 1;
        foreach (AddedToken a in json.AddedTokens)
            count = Math.Max(count, a.Id + 1);

        if (IsByteLevel(json))
        {
            var encode = BuildByteLevel(json);
            var bytes = TokenByteTable.ForPieces(json, count, ByteLevelAlphabet.AppendTokenBytes, stripLeadingSpace: false);
            return new TextTokenizer(path, json, config, generation, encode, bytes, SpecialTokensAdded(json, config));
        }
        if (SentencePieceBpe.Applies(json))
        {
            var (encode, bytes) = SentencePieceBpe.Build(json, count);
            return new TextTokenizer(path, json, config, generation, encode, bytes, SpecialTokensAdded(json, config));
        }
        throw new TokenizerException(
            $"{path}: unsupported tokenizer: pre-tokenizer '{Describe(json.PreTokenizer)}', decoder '{Describe(json.Decoder)}'. " +
            "Supported are byte-level BPE (GPT-2, Llama 3, Qwen: a ByteLevel pre-tokenizer/decoder) and SentencePiece-style BPE " +
            "with byte fallback (Llama 2, Mistral, Gemma: Metaspace or a '▁' normalizer with a ByteFallback decoder).");
    }

    /// <summary>
    /// Encodes text as Hugging Face's <c>tokenizer.encode(text, add_special_tokens=...)</c> does: added tokens
    /// (e.g. "&lt;|im_start|&gt;") written in the text become their ids; with <paramref name="addSpecialTokens"/> the
    /// post-processor's tokens (e.g. BOS) are added around the text.
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens)
            ids.AddRange(_prefixIds);
        int start = 0;
        bool first = true;
        if (_addedTokenPattern is not null)
        {
            for (Match m = _addedTokenPattern.Match(text); m.Success; m = m.NextMatch())
            {
                if (m.Index > start)
                    ids.AddRange(_encodeSegment(text.Substring(start, m.Index - start), first));
                int group = 1;
                while (!m.Groups[group].Success)
                    group++;
                ids.Add(_addedTokenGroupIds[group]);
                start = m.Index + m.Length;
                first = false;
            }
        }
        if (start < text.Length)
            ids.AddRange(_encodeSegment(start == 0 ? text : text.Substring(start), first));
        if (addSpecialTokens)
            ids.AddRange(_suffixIds);
        return ids.ToArray();
    }

    /// <summary>Decodes ids as Hugging Face's <c>tokenizer.decode(ids, skip_special_tokens=...)</c> does.</summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens)
    {
        var buffer = new List<byte>(ids.Length * 4);
        bool strip = Bytes.StripLeadingSpace;
        foreach (int id in ids)
        {
            ReadOnlySpan<byte> bytes = Bytes.BytesOf(id, skipSpecialTokens);
            if (bytes.IsEmpty)
                continue;
            if (strip)
            {
                strip = false;
                if (bytes[0] == (byte)' ')
                    bytes = bytes[1..];
            }
            buffer.AddRange(bytes);
        }
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(buffer));
    }

    /// <inheritdoc cref="Decode(ReadOnlySpan{int}, bool)"/>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens) => Decode(ids.ToArray().AsSpan(), skipSpecialTokens);

    /// <summary>A decoder that turns ids into text one at a time, never splitting a character.</summary>
    public StreamingDetokenizer CreateStreamingDetokenizer(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    /// <summary>Whether <paramref name="id"/> is an added token marked special (dropped by skip_special_tokens).</summary>
    public bool IsSpecialToken(int id) => Bytes.IsSpecial(id);

    public int? TokenToId(string token) => _tokenToId.TryGetValue(token, out int id) ? id : null;

    /// <summary>The vocabulary string of an id (byte-level tokens in GPT-2's alphabet, e.g. "Ġthe"), or null.</summary>
    public string? IdToToken(int id) => _idToToken.GetValueOrDefault(id);

    /// <summary>
    /// One regex for all added tokens, one group per token: leftmost match, and of two starting at one place the
    /// longer (Hugging Face's leftmost-longest); lstrip/rstrip take the whitespace beside the token into the match,
    /// single_word requires no word character beside it.
    /// </summary>
    private static (Regex?, int[]) AddedTokenPattern(IReadOnlyList<AddedToken> addedTokens)
    {
        if (addedTokens.Count == 0)
            return (null, []);
        AddedToken[] longestFirst = addedTokens.DistinctBy(a => a.Content)
            .OrderByDescending(a => a.Content.Length).ThenBy(a => a.Content, StringComparer.Ordinal).ToArray();
        var groupIds = new int[longestFirst.Length + 1];
        var alternatives = new List<string>(longestFirst.Length);
        for (int i = 0; i < longestFirst.Length; i++)
        {
            AddedToken a = longestFirst[i];
            groupIds[i + 1] = a.Id;
            alternatives.Add("(" + (a.LStrip ? @"\s*" : "") + (a.SingleWord ? @"(?<!\w)" : "") + Regex.Escape(a.Content)
                             + (a.SingleWord ? @"(?!\w)" : "") + (a.RStrip ? @"\s*" : "") + ")");
        }
        return (new Regex(string.Join("|", alternatives), RegexOptions.Compiled | RegexOptions.CultureInvariant), groupIds);
    }

    /// <summary>
    /// The UTF-8 bytes one token contributes to decoded text (special tokens included; empty for an unknown id). A
    /// token may hold part of a character, as OpenAI's <c>logprobs[].bytes</c> reports.
    /// </summary>
    public ReadOnlySpan<byte> TokenBytes(int id) => Bytes.BytesOf(id, skipSpecialTokens: false);

    // ---- byte-level BPE ----------------------------------------------------------------------------------------

    private static bool IsByteLevel(TokenizerJson json) =>
        TokenizerJson.Mentions(json.PreTokenizer, "ByteLevel") || (json.Decoder is { } d && TokenizerJson.TypeOf(d) == "ByteLevel");

    private static Func<string, bool, IReadOnlyList<int>> BuildByteLevel(TokenizerJson json)
    {
        string path = json.Path;
        if (json.PreTokenizer is not { } pre || !TokenizerJson.Mentions(pre, "ByteLevel"))
            throw new TokenizerException($"{path}: a byte-level decoder needs a ByteLevel pre-tokenizer, found '{Describe(json.PreTokenizer)}'.");
        if (json.Decoder is { } dec && TokenizerJson.TypeOf(dec) != "ByteLevel")
            throw new TokenizerException($"{path}: decoder '{TokenizerJson.TypeOf(dec)}' is not supported with byte-level BPE (expected ByteLevel).");
        if (json.ByteFallback)
            throw new TokenizerException($"{path}: byte_fallback together with a ByteLevel pre-tokenizer is not supported.");

        var patterns = new List<string>();
        CollectSplits(pre, patterns, path);
        Regex[] regexes;
        try
        {
            regexes = patterns.Select(p => new Regex(p, RegexOptions.Compiled | RegexOptions.CultureInvariant)).ToArray();
        }
        catch (ArgumentException e)
        {
            throw new TokenizerException($"{path}: a pre-tokenizer split pattern is not a valid .NET regular expression ({e.Message}).", e);
        }

        BpeTokenizer bpe;
        try
        {
            // Added tokens are cut out before this engine sees the text (see Encode), so it needs none of them.
            bpe = BpeTokenizer.Create(new BpeOptions(json.Vocab)
            {
                Merges = json.Merges,
                ByteLevel = true,
                PreTokenizer = new SplitPreTokenizer(regexes),
                Normalizer = HfNormalizer.FromJson(json.Normalizer, path),
                UnknownToken = json.UnknownToken,
                ContinuingSubwordPrefix = string.IsNullOrEmpty(json.ContinuingSubwordPrefix) ? null : json.ContinuingSubwordPrefix,
                EndOfWordSuffix = string.IsNullOrEmpty(json.EndOfWordSuffix) ? null : json.EndOfWordSuffix,
            });
        }
        catch (InvalidOperationException e)
        {
            throw new TokenizerException($"{path}: the BPE model is inconsistent ({e.Message}).", e);
        }
        return (segment, _) => bpe.EncodeToIds(segment);
    }

    /// <summary>The split regexes of a (Sequence of) Split / ByteLevel / Digits pre-tokenizer, in order.</summary>
    private static void CollectSplits(JsonElement pre, List<string> patterns, string path)
    {
        string type = TokenizerJson.TypeOf(pre);
        switch (type)
        {
            case "Sequence" when pre.TryGetProperty("pretokenizers", out JsonElement list) && list.ValueKind == JsonValueKind.Array:
                foreach (JsonElement inner in list.EnumerateArray())
                    CollectSplits(inner, patterns, path);
                return;
            case "ByteLevel":
                if (TokenizerJson.Bool(pre, "add_prefix_space"))
                    throw new TokenizerException($"{path}: ByteLevel pre-tokenizer with add_prefix_space = true is not supported.");
                // use_regex defaults to true in Hugging Face's tokenizers.
                if (!pre.TryGetProperty("use_regex", out JsonElement useRegex) || useRegex.ValueKind != JsonValueKind.False)
                    patterns.Add(Gpt2Pattern);
                return;
            case "Split":
            {
                string behavior = TokenizerJson.String(pre, "behavior") ?? "Isolated";
                if (behavior != "Isolated" || TokenizerJson.Bool(pre, "invert"))
                    throw new TokenizerException($"{path}: Split pre-tokenizer with behavior '{behavior}'{(TokenizerJson.Bool(pre, "invert") ? " inverted" : "")} is not supported (only Isolated).");
                if (!pre.TryGetProperty("pattern", out JsonElement pattern))
                    throw new TokenizerException($"{path}: Split pre-tokenizer without a pattern.");
                if (TokenizerJson.String(pattern, "Regex") is { } regex)
                    patterns.Add(regex);
                else if (TokenizerJson.String(pattern, "String") is { } literal)
                    patterns.Add(Regex.Escape(literal));
                else
                    throw new TokenizerException($"{path}: Split pattern must be {{\"Regex\": ...}} or {{\"String\": ...}}.");
                return;
            }
            case "Digits":
                patterns.Add(TokenizerJson.Bool(pre, "individual_digits") ? @"\p{N}" : @"\p{N}+");
                return;
            default:
                throw new TokenizerException(
                    $"{path}: pre-tokenizer '{type}' is not supported for byte-level BPE; supported are ByteLevel, Split (Isolated), Digits and Sequences of them.");
        }
    }

    // ---- post-processor: what add_special_tokens adds ----------------------------------------------------------

    private static (int[] Prefix, int[] Suffix) SpecialTokensAdded(TokenizerJson json, TokenizerConfig config)
    {
        var prefix = new List<int>();
        var suffix = new List<int>();
        if (json.PostProcessor is { } post)
            CollectTemplate(post, json, prefix, suffix);

        // transformers' Llama/Gemma tokenizers rebuild the post-processor from add_bos_token/add_eos_token.
        if (config.TokenizerClass is { } cls && (cls.StartsWith("Llama", StringComparison.Ordinal) || cls.StartsWith("CodeLlama", StringComparison.Ordinal)
                                                   || cls.StartsWith("Gemma", StringComparison.Ordinal))
            && (config.AddBosToken is not null || config.AddEosToken is not null))
        {
            prefix.Clear();
            suffix.Clear();
            if (config.AddBosToken == true && config.BosToken is { } bos && json.IdOf(bos) is { } bosId)
                prefix.Add(bosId);
            if (config.AddEosToken == true && config.EosToken is { } eos && json.IdOf(eos) is { } eosId)
                suffix.Add(eosId);
        }
        return (prefix.ToArray(), suffix.ToArray());
    }

    private static void CollectTemplate(JsonElement post, TokenizerJson json, List<int> prefix, List<int> suffix)
    {
        string path = json.Path;
        switch (TokenizerJson.TypeOf(post))
        {
            case "Sequence" when post.TryGetProperty("processors", out JsonElement list) && list.ValueKind == JsonValueKind.Array:
                foreach (JsonElement inner in list.EnumerateArray())
                    CollectTemplate(inner, json, prefix, suffix);
                return;
            case "ByteLevel":
                return; // only adjusts offsets
            case "TemplateProcessing":
            {
                if (!post.TryGetProperty("single", out JsonElement single) || single.ValueKind != JsonValueKind.Array)
                    throw new TokenizerException($"{path}: TemplateProcessing post-processor without a 'single' template.");
                bool afterSequence = false;
                foreach (JsonElement item in single.EnumerateArray())
                {
                    if (item.TryGetProperty("Sequence", out _))
                    {
                        afterSequence = true;
                        continue;
                    }
                    if (!item.TryGetProperty("SpecialToken", out JsonElement st) || TokenizerJson.String(st, "id") is not { } name)
                        throw new TokenizerException($"{path}: TemplateProcessing item {item.GetRawText()} is neither a Sequence nor a SpecialToken.");
                    (afterSequence ? suffix : prefix).AddRange(TemplateIds(post, name, json));
                }
                return;
            }
            case "RobertaProcessing" or "BertProcessing":
                prefix.Add(ProcessorTokenId(post, "cls", path));
                suffix.Add(ProcessorTokenId(post, "sep", path));
                return;
            default:
                throw new TokenizerException(
                    $"{path}: post-processor '{TokenizerJson.TypeOf(post)}' is not supported; supported are TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing and Sequences of them.");
        }
    }

    private static IEnumerable<int> TemplateIds(JsonElement post, string name, TokenizerJson json)
    {
        if (post.TryGetProperty("special_tokens", out JsonElement map) && map.TryGetProperty(name, out JsonElement entry)
            && entry.TryGetProperty("ids", out JsonElement ids) && ids.ValueKind == JsonValueKind.Array)
            return ids.EnumerateArray().Select(i => i.GetInt32()).ToArray();
        return [json.IdOf(name) ?? throw new TokenizerException($"{json.Path}: TemplateProcessing names special token '{name}', which has no id.")];
    }

    private static int ProcessorTokenId(JsonElement post, string field, string path) =>
        post.TryGetProperty(field, out JsonElement pair) && pair.ValueKind == JsonValueKind.Array && pair.GetArrayLength() == 2
            && pair[1].TryGetInt32(out int id)
            ? id
            : throw new TokenizerException($"{path}: post-processor field '{field}' must be [token, id].");

    // ---- helpers ------------------------------------------------------------------------------------------------

    private static string Describe(JsonElement? section)
    {
        if (section is not { } s)
            return "none";
        string type = TokenizerJson.TypeOf(s);
        foreach (string listName in (string[])["pretokenizers", "decoders", "normalizers", "processors"])
            if (s.TryGetProperty(listName, out JsonElement list) && list.ValueKind == JsonValueKind.Array)
                return $"{type}[{string.Join(", ", list.EnumerateArray().Select(e => Describe(e)))}]";
        return type;
    }
}
