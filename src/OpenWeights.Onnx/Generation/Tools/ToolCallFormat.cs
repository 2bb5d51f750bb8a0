namespace OpenWeights.Onnx.Generation.Tools;

/// <summary>
/// How a model family writes tool calls in its output, as its chat template teaches it: where calls begin (a marker,
/// or for Llama a bare JSON object at the start), how several are separated and closed, and which key holds the
/// arguments. The same description parses the output (<see cref="ToolCallReader"/>) and says what a forced call
/// must look like (<see cref="CallPrefix"/>, <see cref="CallSuffix"/>).
/// </summary>
public sealed record ToolCallFormat
{
    /// <summary>Qwen 2.5/3, Hermes 2 Pro and other ChatML tool templates: <c>&lt;tool_call&gt;{"name": …, "arguments": {…}}&lt;/tool_call&gt;</c>, one block per call.</summary>
    public static ToolCallFormat Hermes { get; } = new()
    {
        Name = "hermes",
        Marker = "<tool_call>",
        ObjectClose = "</tool_call>",
        Separator = "<tool_call>",
        ArgumentKeys = ["arguments"],
    };

    /// <summary>Llama 3.1+: <c>{"name": …, "parameters": {…}}</c> at the start of the answer, optionally after <c>&lt;|python_tag|&gt;</c>; several separated by ';'.</summary>
    public static ToolCallFormat Llama3 { get; } = new()
    {
        Name = "llama3",
        Marker = "<|python_tag|>",
        Separator = ";",
        ArgumentKeys = ["parameters", "arguments"],
        BareObjectAtStart = true,
    };

    /// <summary>Mistral (v0.3 and later templates): <c>[TOOL_CALLS][{"name": …, "arguments": {…}}, …]</c>.</summary>
    public static ToolCallFormat Mistral { get; } = new()
    {
        Name = "mistral",
        Marker = "[TOOL_CALLS]",
        ListOpen = "[",
        Separator = ",",
        ListClose = "]",
        ArgumentKeys = ["arguments"],
    };

    /// <summary>
    /// Mistral's newer templates (Ministral 3, Devstral Small 2, Magistral): <c>[TOOL_CALLS]name[ARGS]{…}</c> per call,
    /// the name bare and the arguments object after the <c>[ARGS]</c> marker (both special tokens in their tokenizers).
    /// </summary>
    public static ToolCallFormat MistralArgs { get; } = new()
    {
        Name = "mistral-args",
        Marker = "[TOOL_CALLS]",
        Separator = "[TOOL_CALLS]",
        ArgsMarker = "[ARGS]",
        ArgumentKeys = ["arguments"],
    };

    public static IReadOnlyList<ToolCallFormat> All { get; } = [Hermes, Llama3, Mistral, MistralArgs];

    /// <summary>The name used by <c>--tool-call-format</c>: hermes, llama3, mistral, mistral-args.</summary>
    public required string Name { get; init; }
    /// <summary>Text that starts the calls.</summary>
    public required string Marker { get; init; }
    /// <summary>Opens the list of calls after the marker ("" when none).</summary>
    public string ListOpen { get; init; } = "";
    /// <summary>Closes each call's object ("" when none).</summary>
    public string ObjectClose { get; init; } = "";
    /// <summary>Between two calls.</summary>
    public required string Separator { get; init; }
    /// <summary>Closes the list of calls ("" when none).</summary>
    public string ListClose { get; init; } = "";
    /// <summary>Keys of the arguments object in a call, preferred first.</summary>
    public required IReadOnlyList<string> ArgumentKeys { get; init; }
    /// <summary>A JSON object at the very start of the answer is a call even without the marker.</summary>
    public bool BareObjectAtStart { get; init; }
    /// <summary>
    /// Set when a call is the function's bare name, this text, then the arguments object (<see cref="MistralArgs"/>);
    /// "" when a call is a <c>{"name": …, "arguments": …}</c> object.
    /// </summary>
    public string ArgsMarker { get; init; } = "";

    /// <summary>The format named <paramref name="name"/> (as <c>--tool-call-format</c> takes it).</summary>
    public static ToolCallFormat FromName(string name) =>
        All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException(
            $"tool call format '{name}' is not known; expected one of {string.Join(", ", All.Select(f => f.Name))}.");

    /// <summary>
    /// The format a model's chat template (and its tokenizer's added tokens) teaches, or null when the template
    /// shows no tools to the model. The markers are what the template writes for the model to imitate, and what
    /// the tokenizer defines as single tokens for that purpose.
    /// </summary>
    public static ToolCallFormat? Detect(string? chatTemplate, IEnumerable<string> addedTokens)
    {
        if (string.IsNullOrEmpty(chatTemplate) || !ReadsTools(chatTemplate))
            return null;
        var tokens = addedTokens.ToHashSet(StringComparer.Ordinal);
        if (chatTemplate.Contains("[TOOL_CALLS]", StringComparison.Ordinal) && chatTemplate.Contains("[ARGS]", StringComparison.Ordinal))
            return MistralArgs;
        if (chatTemplate.Contains("[TOOL_CALLS]", StringComparison.Ordinal))
            return Mistral;
        if (chatTemplate.Contains("<tool_call>", StringComparison.Ordinal))
            return Hermes;
        if (chatTemplate.Contains("<|python_tag|>", StringComparison.Ordinal) || tokens.Contains("<|python_tag|>")
            || chatTemplate.Contains("<|start_header_id|>", StringComparison.Ordinal) && chatTemplate.Contains("\"parameters\"", StringComparison.Ordinal))
            return Llama3;
        if (tokens.Contains("[TOOL_CALLS]"))
            return tokens.Contains("[ARGS]") ? MistralArgs : Mistral;
        if (tokens.Contains("<tool_call>"))
            return Hermes;
        return null;
    }

    /// <summary>Whether a template uses the <c>tools</c> variable at all (a template that does not would silently drop them).</summary>
    public static bool ReadsTools(string chatTemplate) =>
        System.Text.RegularExpressions.Regex.IsMatch(chatTemplate, @"\btools\b");

    /// <summary>
    /// What a forced call of <paramref name="functionName"/> begins with, up to its arguments object: the model then
    /// writes only the arguments, constrained by the function's schema. <paramref name="first"/>: the first call
    /// (later ones begin with the separator).
    /// </summary>
    public string CallPrefix(string functionName, bool first)
    {
        if (ArgsMarker.Length > 0)
            return Marker + functionName + ArgsMarker; // every call opens with the marker

        string name = System.Text.Json.JsonSerializer.Serialize(functionName);
        // Llama's templates ask for the bare object; its marker token is for built-in tools.
        string opening = first
            ? (BareObjectAtStart ? "" : Marker + ListOpen)
            : (ObjectClose.Length > 0 ? "\n" : "") + Separator + " ";
        if (ObjectClose.Length > 0)
            opening = opening.TrimEnd(' ') + "\n";
        return $"{opening}{{\"name\": {name}, \"{ArgumentKeys[0]}\": ";
    }

    /// <summary>What follows a forced call's arguments object.</summary>
    public string CallSuffix => ArgsMarker.Length > 0 ? "" : "}" + (ObjectClose.Length > 0 ? "\n" + ObjectClose : "");

    /// <summary>What follows the last forced call.</summary>
    public string CallsEnd => ListClose;
}
