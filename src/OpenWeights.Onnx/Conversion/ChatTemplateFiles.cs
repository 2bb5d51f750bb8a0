using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Conversion;

/// <summary>
/// Puts the checkpoint's chat template into the converted folder in the one form every reader takes: a string
/// <c>chat_template</c> in <c>tokenizer_config.json</c>. Checkpoints also come with a list of named templates there
/// (<c>[{"name": "default", …}, {"name": "tool_use", …}]</c>), which onnxruntime-genai 0.18 cannot load at all
/// ("type must be string, but is array"), or with the template in <c>chat_template.jinja</c> beside a config that has
/// none (transformers 4.47 and later), which copying the config alone would lose. The default template becomes the
/// string; the other named ones go to <c>additional_chat_templates/{name}.jinja</c>, as transformers saves them.
/// A config that already holds a string, or no template anywhere, is copied byte for byte.
/// </summary>
/// <remarks>Read (and checked) before conversion starts, written into the staging folder at its end.</remarks>
internal sealed class ChatTemplateFiles
{
    public const string ConfigFile = "tokenizer_config.json";
    public const string JinjaFile = "chat_template.jinja";
    public const string AdditionalFolder = "additional_chat_templates";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly string _configPath;
    /// <summary>The rewritten config, or null to copy the checkpoint's file as it is (or write none).</summary>
    private readonly JsonObject? _rewritten;
    private readonly Dictionary<string, string> _additional = new(StringComparer.Ordinal);

    private ChatTemplateFiles(string checkpointDirectory)
    {
        _configPath = Path.Combine(checkpointDirectory, ConfigFile);
        string jinjaPath = Path.Combine(checkpointDirectory, JinjaFile);
        JsonObject? root = File.Exists(_configPath) ? ParseObject(_configPath) : null;
        var template = root?["chat_template"];
        if (template is JsonArray named)
        {
            string? fallback = null;
            foreach (var entry in named)
            {
                string name = Text(entry, "name"), body = Text(entry, "template");
                if (name == "default")
                    fallback = body;
                else if (!_additional.TryAdd(FileName(name), body))
                    throw new CheckpointException($"{_configPath}: chat template '{name}' is listed twice.");
            }
            _rewritten = root!.DeepClone().AsObject();
            if (fallback is null)
                _rewritten.Remove("chat_template");
            else
                _rewritten["chat_template"] = fallback;
        }
        else if (template is null && File.Exists(jinjaPath))
        {
            _rewritten = root?.DeepClone().AsObject() ?? [];
            _rewritten["chat_template"] = File.ReadAllText(jinjaPath);
        }
    }

    public static ChatTemplateFiles Read(string checkpointDirectory) => new(checkpointDirectory);

    public void WriteTo(string outputDirectory)
    {
        string target = Path.Combine(outputDirectory, ConfigFile);
        if (_rewritten is not null)
            File.WriteAllText(target, _rewritten.ToJsonString(Indented));
        else if (File.Exists(_configPath))
            File.Copy(_configPath, target);
        if (_additional.Count == 0)
            return;
        string folder = Directory.CreateDirectory(Path.Combine(outputDirectory, AdditionalFolder)).FullName;
        foreach (var (file, body) in _additional)
            File.WriteAllText(Path.Combine(folder, file), body);
    }

    private static JsonObject ParseObject(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                   ?? throw new CheckpointException($"{path}: must be a JSON object.");
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: not valid JSON ({e.Message}).", e);
        }
    }

    private string Text(JsonNode? entry, string field) =>
        entry?[field] is JsonValue v && v.TryGetValue(out string? s) && s.Length > 0
            ? s
            : throw new CheckpointException(
                $"{_configPath}: each entry of 'chat_template' must be {{\"name\": string, \"template\": string}}; an entry has no '{field}'.");

    /// <summary>The name becomes a file name: refuse anything that could leave the folder or hide a file.</summary>
    private string FileName(string name) =>
        name.Length <= 100 && !name.StartsWith('.') && name.IndexOfAny(['/', '\\', '\0', ':']) < 0
            ? name + ".jinja"
            : throw new CheckpointException($"{_configPath}: chat template name '{name}' cannot be used as a file name.");
}
