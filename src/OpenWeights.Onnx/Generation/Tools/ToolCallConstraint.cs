using OpenWeights.Onnx.Generation.Constraints;

namespace OpenWeights.Onnx.Generation.Tools;

/// <summary>
/// Tool calls as constraints, so that every call the model writes parses: the format's call syntax, a declared
/// function's name, and arguments valid against that function's schema.
/// <list type="bullet">
/// <item><see cref="For"/>: a forced answer (<c>tool_choice</c> "required" or a named function) is calls only.</item>
/// <item><see cref="Auto"/>: in <c>auto</c> mode the text is free until the model writes the format's call marker
/// (or, for Llama, a <c>{</c> opening the answer); the rest of that call is then constrained (a lazy constraint).</item>
/// </list>
/// </summary>
/// <remarks>
/// Several calls (<c>parallel_tool_calls</c>, OpenAI's default) are bounded by <see cref="MaxParallelCalls"/> per
/// answer, so a model that never stops calling still ends; without parallel calls an answer holds at most one. A named
/// function is called once. A schema the grammar cannot enforce (e.g. <c>pattern</c>, <c>minimum</c>) is an error for
/// a <see cref="ToolDefinition.Strict"/> function; for any other the arguments are held to "a JSON object", since
/// without <c>strict</c> OpenAI too treats the schema as guidance.
/// </remarks>
public static class ToolCallConstraint
{
    /// <summary>The most calls one answer may hold when parallel calls are allowed.</summary>
    public const int MaxParallelCalls = 8;

    /// <summary>No parameters: the arguments are the empty object.</summary>
    private const string NoArguments = """{"type": "object", "properties": {}, "additionalProperties": false}""";

    /// <summary>Calls only: one (a named function, or no parallel calls) or 1 to <see cref="MaxParallelCalls"/>.</summary>
    /// <exception cref="JsonSchemaException">A strict function's schema cannot be enforced.</exception>
    public static OutputConstraint For(ToolCallFormat format, IReadOnlyList<ToolDefinition> tools, ToolChoice choice, bool parallelCalls = false)
    {
        if (!choice.ForcesCall)
            throw new ArgumentException($"tool choice '{choice.Mode}' does not force a call.", nameof(choice));
        var allowed = choice.Mode == ToolChoiceMode.Function ? tools.Where(t => t.Name == choice.FunctionName).ToList() : tools.ToList();
        if (allowed.Count == 0)
            throw new ArgumentException(choice.Mode == ToolChoiceMode.Function
                ? $"the function '{choice.FunctionName}' is not one of the tools." : "a forced call needs at least one tool.", nameof(tools));
        int max = parallelCalls && choice.Mode == ToolChoiceMode.Required ? MaxParallelCalls : 1;
        if (format.ArgsMarker.Length > 0)
        {
            // [TOOL_CALLS]name[ARGS]{…}, each call with its own marker and nothing between calls.
            var named = OutputConstraint.Choice(allowed.Select(t => OutputConstraint.Sequence(
                OutputConstraint.Literal(format.Marker + t.Name + format.ArgsMarker), Arguments(t))).ToArray());
            return max == 1 ? named : OutputConstraint.Repeat(named, 1, max);
        }
        if (format.ObjectClose.Length > 0)
        {
            // Each call in its own block: <tool_call>\n{…}\n</tool_call>, blocks separated by a newline.
            var block = OutputConstraint.Choice(allowed.Select(t => OutputConstraint.Sequence(
                OutputConstraint.Literal(format.Marker + "\n"), CallObject(format, t), OutputConstraint.Literal("\n" + format.ObjectClose))).ToArray());
            return Several(block, max, "\n");
        }
        var calls = CallList(format, allowed, max);
        return format.BareObjectAtStart ? calls : OutputConstraint.Sequence(OutputConstraint.Literal(format.Marker), calls);
    }

    /// <summary>
    /// Free text in which the format's call marker starts a constrained call (or, for Llama, an answer that opens with
    /// <c>{</c> is calls): every call written parses and names a declared function with valid arguments.
    /// </summary>
    /// <exception cref="JsonSchemaException">A strict function's schema cannot be enforced.</exception>
    public static OutputConstraint Auto(ToolCallFormat format, IReadOnlyList<ToolDefinition> tools, bool parallelCalls)
    {
        if (tools.Count == 0)
            throw new ArgumentException("tool calls need at least one tool.", nameof(tools));
        int max = parallelCalls ? MaxParallelCalls : 1;
        if (format.ArgsMarker.Length > 0)
        {
            var rest = OutputConstraint.Choice(tools.Select(t => OutputConstraint.Sequence(
                OutputConstraint.Literal(t.Name + format.ArgsMarker), Arguments(t))).ToArray());
            return OutputConstraint.FreeText(format.Marker, rest, max);
        }
        if (format.ObjectClose.Length > 0)
        {
            // Each block starts with the marker: each is an item of the free text.
            var rest = OutputConstraint.Choice(tools.Select(t => OutputConstraint.Sequence(
                OutputConstraint.Literal("\n"), CallObject(format, t), OutputConstraint.Literal("\n" + format.ObjectClose))).ToArray());
            return OutputConstraint.FreeText(format.Marker, rest, max);
        }
        // One list of calls after the marker (or at the start, for Llama's bare object).
        return OutputConstraint.FreeText(format.Marker, CallList(format, tools, max), maxItems: 1, itemAtStart: format.BareObjectAtStart);
    }

    /// <summary>The list form (Mistral's <c>[…, …]</c>, Llama's <c>…; …</c>) of 1 to <paramref name="max"/> calls.</summary>
    private static OutputConstraint CallList(ToolCallFormat format, IReadOnlyList<ToolDefinition> tools, int max)
    {
        var call = OutputConstraint.Choice(tools.Select(t => CallObject(format, t)).ToArray());
        var list = Several(call, max, format.Separator + " ");
        return format.ListOpen.Length == 0 ? list
            : OutputConstraint.Sequence(OutputConstraint.Literal(format.ListOpen), list, OutputConstraint.Literal(format.ListClose));
    }

    private static OutputConstraint Several(OutputConstraint item, int max, string separator) =>
        max == 1 ? item : OutputConstraint.Repeat(item, 1, max, separator);

    /// <summary><c>{"name": "f", "arguments": {…}}</c>, the arguments under the format's key, valid against the function's schema.</summary>
    private static OutputConstraint CallObject(ToolCallFormat format, ToolDefinition tool) => OutputConstraint.Sequence(
        OutputConstraint.Literal($"{{\"name\": {System.Text.Json.JsonSerializer.Serialize(tool.Name)}, \"{format.ArgumentKeys[0]}\": "),
        Arguments(tool),
        OutputConstraint.Literal("}"));

    private static OutputConstraint Arguments(ToolDefinition tool)
    {
        if (tool.Parameters is null)
            return OutputConstraint.JsonSchema(NoArguments);
        try
        {
            return OutputConstraint.JsonSchema(tool.Parameters.ToJsonString());
        }
        catch (JsonSchemaException e) when (!tool.Strict)
        {
            _ = e; // Advisory schema (not strict): any object.
            return OutputConstraint.JsonObject();
        }
        catch (JsonSchemaException e)
        {
            throw new JsonSchemaException(e.SchemaPath, $"function '{tool.Name}' (strict): {e.Problem}");
        }
    }
}
