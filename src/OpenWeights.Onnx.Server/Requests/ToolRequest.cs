using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Requests;

/// <summary>
/// A chat request's <c>tools</c>, <c>tool_choice</c> and <c>parallel_tool_calls</c>, checked as OpenAI checks them:
/// function names of letters, digits, '_' and '-' (at most 64), unique; parameters a JSON object (a schema);
/// a named choice must name a declared function; <c>required</c> or a named function without tools is refused.
/// </summary>
internal sealed partial record ToolRequest(IReadOnlyList<ToolDefinition> Tools, ToolChoice Choice, bool ParallelCalls)
{
    public static ToolRequest NoTools { get; } = new([], ToolChoice.Auto, true);

    /// <summary>Whether the model is offered tools and its answer read for calls.</summary>
    public bool Active => Tools.Count > 0 && Choice.Mode != ToolChoiceMode.None;

    private const int MaxCachedConstraints = 64;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Generation.Constraints.OutputConstraint> Constraints = new();

    /// <summary>
    /// The constraint on the answer's calls: a forced answer (required or a named function) is calls only; in auto mode
    /// the text is free until the model opens a call, which is then constrained (<see cref="ToolCallConstraint.Auto"/>).
    /// Either way every call parses. A strict function whose schema cannot be enforced is a 400 naming it. Kept by
    /// format, choice and tools, so that an agent repeating its tools shares the token masks instead of recomputing them.
    /// </summary>
    public static Generation.Constraints.OutputConstraint CallConstraint(ToolCallFormat format, ToolRequest tools)
    {
        var described = new JsonArray();
        foreach (var t in tools.Tools)
        {
            var o = t.ToTemplateJson();
            o["strict"] = t.Strict;
            described.Add(o);
        }
        string key = $"{format.Name}|{tools.Choice.Mode}|{tools.Choice.FunctionName}|{tools.ParallelCalls}|{described.ToJsonString()}";
        if (Constraints.TryGetValue(key, out var cached))
            return cached;
        try
        {
            var constraint = tools.Choice.ForcesCall
                ? ToolCallConstraint.For(format, tools.Tools, tools.Choice, tools.ParallelCalls)
                : ToolCallConstraint.Auto(format, tools.Tools, tools.ParallelCalls);
            if (Constraints.Count >= MaxCachedConstraints)
                Constraints.Clear();
            return Constraints.GetOrAdd(key, constraint);
        }
        catch (Generation.Constraints.JsonSchemaException e)
        {
            throw OpenAiException.InvalidValue("tools", e.Message);
        }
    }

    [GeneratedRegex("^[a-zA-Z0-9_-]{1,64}$")]
    private static partial Regex FunctionName();

    public static ToolRequest Parse(JsonFields f)
    {
        var tools = ParseTools(f);
        var choice = ParseChoice(f, tools);
        bool parallel = f.Bool("parallel_tool_calls") ?? true;
        return new ToolRequest(tools, choice, parallel);
    }

    private static List<ToolDefinition> ParseTools(JsonFields f)
    {
        var result = new List<ToolDefinition>();
        if (f.Get("tools") is not { } tools)
            return result;
        if (tools.ValueKind != JsonValueKind.Array)
            throw OpenAiException.InvalidType(f.PathOf("tools"), "an array", JsonFields.Describe(tools));
        int i = 0;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in tools.EnumerateArray())
        {
            string path = $"{f.PathOf("tools")}[{i++}]";
            var tool = JsonFields.Object(item, path);
            string type = tool.RequiredString("type");
            if (type != "function")
                throw OpenAiException.InvalidValue(tool.PathOf("type"), $"'{type}' is not supported; tools must be of type 'function'.");
            var function = tool.Get("function") is { } fn
                ? JsonFields.Object(fn, tool.PathOf("function"))
                : throw OpenAiException.BadRequest($"Missing required parameter: '{tool.PathOf("function")}'.", tool.PathOf("function"), "missing_required_parameter");
            string name = function.RequiredString("name");
            if (!FunctionName().IsMatch(name))
                throw OpenAiException.InvalidValue(function.PathOf("name"),
                    $"string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$', but got '{name}'.");
            if (!names.Add(name))
                throw OpenAiException.InvalidValue(function.PathOf("name"), $"the function name '{name}' is declared twice; names must be unique.");
            JsonObject? parameters = null;
            if (function.Get("parameters") is { } p)
            {
                if (p.ValueKind != JsonValueKind.Object)
                    throw OpenAiException.InvalidType(function.PathOf("parameters"), "an object (a JSON Schema)", JsonFields.Describe(p));
                parameters = JsonNode.Parse(p.GetRawText())!.AsObject();
            }
            result.Add(new ToolDefinition(name, function.String("description"), parameters, function.Bool("strict") ?? false));
        }
        return result;
    }

    private static ToolChoice ParseChoice(JsonFields f, IReadOnlyList<ToolDefinition> tools)
    {
        string path = f.PathOf("tool_choice");
        ToolChoice choice;
        switch (f.Get("tool_choice"))
        {
            case null:
                return tools.Count > 0 ? ToolChoice.Auto : ToolChoice.None;
            case { ValueKind: JsonValueKind.String } s:
                choice = JsonFields.AsString(s, path) switch
                {
                    "auto" => ToolChoice.Auto,
                    "none" => ToolChoice.None,
                    "required" => ToolChoice.Required,
                    var other => throw OpenAiException.InvalidValue(path, $"'{other}' is not one of 'none', 'auto', 'required' or an object naming a function."),
                };
                break;
            case { ValueKind: JsonValueKind.Object } o:
            {
                var named = JsonFields.Object(o, path);
                string type = named.RequiredString("type");
                if (type != "function")
                    throw OpenAiException.InvalidValue(named.PathOf("type"), $"'{type}' is not supported; expected 'function'.");
                var function = named.Get("function") is { } fn
                    ? JsonFields.Object(fn, named.PathOf("function"))
                    : throw OpenAiException.BadRequest($"Missing required parameter: '{named.PathOf("function")}'.", named.PathOf("function"), "missing_required_parameter");
                string name = function.RequiredString("name");
                if (tools.All(t => t.Name != name))
                    throw OpenAiException.InvalidValue(function.PathOf("name"), $"the function '{name}' is not one of the declared tools.");
                choice = ToolChoice.Function(name);
                break;
            }
            case { } other:
                throw OpenAiException.InvalidType(path, "a string or an object", JsonFields.Describe(other));
        }
        if (choice.ForcesCall && tools.Count == 0)
            throw OpenAiException.InvalidValue(path, "'tool_choice' is only allowed when 'tools' are specified.");
        return choice;
    }
}
