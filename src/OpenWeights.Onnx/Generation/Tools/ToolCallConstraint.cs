using OpenWeights.Onnx.Generation.Constraints;

namespace OpenWeights.Onnx.Generation.Tools;

/// <summary>
/// The output of a forced call (<c>tool_choice</c> "required" or a named function) as a constraint: the format's
/// opening up to the arguments, the arguments valid against the function's schema, and the closing — one
/// alternative per allowed function. The answer is then always exactly one call that parses.
/// </summary>
/// <remarks>
/// One call: a forced answer holds a single call even when parallel calls are allowed (the constraint has no
/// repetition). A schema the grammar cannot enforce (e.g. <c>pattern</c>, <c>minimum</c>) is an error for a
/// <see cref="ToolDefinition.Strict"/> function; for any other the arguments are held to "a JSON object", since
/// without <c>strict</c> OpenAI too treats the schema as guidance.
/// </remarks>
public static class ToolCallConstraint
{
    /// <summary>No parameters: the arguments are the empty object.</summary>
    private const string NoArguments = """{"type": "object", "properties": {}, "additionalProperties": false}""";

    /// <exception cref="JsonSchemaException">A strict function's schema cannot be enforced.</exception>
    public static OutputConstraint For(ToolCallFormat format, IReadOnlyList<ToolDefinition> tools, ToolChoice choice)
    {
        if (!choice.ForcesCall)
            throw new ArgumentException($"tool choice '{choice.Mode}' does not force a call.", nameof(choice));
        var allowed = choice.Mode == ToolChoiceMode.Function ? tools.Where(t => t.Name == choice.FunctionName).ToList() : tools.ToList();
        if (allowed.Count == 0)
            throw new ArgumentException(choice.Mode == ToolChoiceMode.Function
                ? $"the function '{choice.FunctionName}' is not one of the tools." : "a forced call needs at least one tool.", nameof(tools));
        var alternatives = allowed.Select(tool => OutputConstraint.Sequence(
            OutputConstraint.Literal(format.CallPrefix(tool.Name, first: true)),
            Arguments(tool),
            OutputConstraint.Literal(format.CallSuffix + format.CallsEnd))).ToArray();
        return OutputConstraint.Choice(alternatives);
    }

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
