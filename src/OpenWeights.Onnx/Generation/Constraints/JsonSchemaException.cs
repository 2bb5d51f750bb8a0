namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>A JSON Schema that cannot be enforced: invalid, or using a keyword this grammar does not support.</summary>
public sealed class JsonSchemaException : ArgumentException
{
    public JsonSchemaException(string path, string problem)
        : base($"JSON schema {path}: {problem}")
    {
        SchemaPath = path;
        Problem = problem;
    }

    /// <summary>Where in the schema, as a JSON pointer fragment (<c>#/properties/age</c>).</summary>
    public string SchemaPath { get; }

    /// <summary>What is wrong there.</summary>
    public string Problem { get; }
}
