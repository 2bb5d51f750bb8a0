using System.Text.Json;

namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// What <c>tokenizer_config.json</c> (optional) says beyond <c>tokenizer.json</c>: the special token names,
/// whether transformers adds BOS/EOS, the tokenizer class and the chat template(s). A newer checkpoint may keep
/// its template in <c>chat_template.jinja</c> beside it instead; that file is read when the config has none.
/// </summary>
internal sealed record TokenizerConfig
{
    public string? TokenizerClass { get; init; }
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }
    public bool? AddBosToken { get; init; }
    public bool? AddEosToken { get; init; }
    public string? ChatTemplate { get; init; }
    public IReadOnlyDictionary<string, string> NamedChatTemplates { get; init; } = new Dictionary<string, string>();

    public static TokenizerConfig Load(string folder)
    {
        string path = Path.Combine(folder, "tokenizer_config.json");
        var config = new TokenizerConfig();
        if (File.Exists(path))
            config = Parse(path);
        string jinja = Path.Combine(folder, "chat_template.jinja");
        if (config.ChatTemplate is null && File.Exists(jinja))
            config = config with { ChatTemplate = File.ReadAllText(jinja) };
        return config;
    }

    private static TokenizerConfig Parse(string path)
    {
        JsonElement root;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"{path}: not valid JSON ({e.Message}).", e);
        }
        if (root.ValueKind != JsonValueKind.Object)
            throw new TokenizerException($"{path}: must be a JSON object.");

        string? template = null;
        var named = new Dictionary<string, string>();
        if (root.TryGetProperty("chat_template", out JsonElement ct))
        {
            if (ct.ValueKind == JsonValueKind.String)
                template = ct.GetString();
            else if (ct.ValueKind == JsonValueKind.Array)
            {
                // [{ "name": "default", "template": "..." }, { "name": "tool_use", ... }]
                foreach (JsonElement e in ct.EnumerateArray())
                    if (TokenizerJson.String(e, "name") is { } name && TokenizerJson.String(e, "template") is { } body)
                        named[name] = body;
                template = named.GetValueOrDefault("default");
            }
            else if (ct.ValueKind != JsonValueKind.Null)
                throw new TokenizerException($"{path}: 'chat_template' must be a string or a list of {{name, template}}.");
        }

        return new TokenizerConfig
        {
            TokenizerClass = TokenizerJson.String(root, "tokenizer_class"),
            BosToken = TokenName(root, "bos_token", path),
            EosToken = TokenName(root, "eos_token", path),
            PadToken = TokenName(root, "pad_token", path),
            AddBosToken = OptionalBool(root, "add_bos_token"),
            AddEosToken = OptionalBool(root, "add_eos_token"),
            ChatTemplate = template,
            NamedChatTemplates = named,
        };
    }

    /// <summary>A special token written as a plain string or as an AddedToken object <c>{"content": ...}</c>.</summary>
    private static string? TokenName(JsonElement root, string field, string path)
    {
        if (!root.TryGetProperty(field, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
            return null;
        if (v.ValueKind == JsonValueKind.String)
            return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && TokenizerJson.String(v, "content") is { } content)
            return content;
        throw new TokenizerException($"{path}: '{field}' must be a string, an object with 'content', or null.");
    }

    private static bool? OptionalBool(JsonElement root, string field) =>
        root.TryGetProperty(field, out JsonElement v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? v.GetBoolean()
            : null;
}
