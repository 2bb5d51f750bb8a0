using System.CommandLine;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Generation.Constraints;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>
/// <c>--json</c> and <c>--json-schema FILE</c>: the output must be a JSON object, or a JSON value valid against the
/// schema in the file, enforced while sampling (run, and bench to measure what the masking costs).
/// </summary>
internal sealed class ConstraintOptionSet
{
    public readonly Option<bool> Json = CliOptions.Flag("--json", "The output is any JSON object (enforced while sampling)");
    public readonly Option<string> JsonSchema = CliOptions.Text("--json-schema",
        "The output is JSON valid against the JSON Schema in this file (enforced while sampling; default: free text)");

    public void AddTo(Command command)
    {
        command.Options.Add(Json);
        command.Options.Add(JsonSchema);
    }

    /// <summary>The constraint the command line asks for, or null; a bad schema is a usage error naming the file.</summary>
    public OutputConstraint? Read(ParseResult parse)
    {
        string? file = parse.GetValue(JsonSchema);
        bool json = parse.GetValue(Json);
        if (file is not null && json)
            throw new UsageException("--json and --json-schema were both given (give one: --json-schema already makes the output JSON)");
        return json ? OutputConstraint.JsonObject() : ReadSchema(file);
    }

    /// <summary>The JSON Schema in <paramref name="file"/> (null: none); a missing file or a bad schema is a usage error naming it.</summary>
    public static OutputConstraint? ReadSchema(string? file)
    {
        if (file is null)
            return null;
        if (!File.Exists(file))
            throw new UsageException($"--json-schema {file}: file not found (give a JSON Schema file)");
        try
        {
            return OutputConstraint.JsonSchema(File.ReadAllText(file));
        }
        catch (JsonSchemaException e)
        {
            throw new UsageException($"--json-schema {file}: {e.Message} (change the schema or leave the option out)");
        }
    }
}
