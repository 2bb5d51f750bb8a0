using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Generation.Tools;

/// <summary>
/// A function the model may call: its name, what it does, and the JSON schema of its arguments (an object schema;
/// null when it takes none). <see cref="Strict"/> is OpenAI's flag asking that arguments follow the schema exactly.
/// </summary>
public sealed record ToolDefinition(string Name, string? Description, JsonObject? Parameters, bool Strict = false)
{
    /// <summary>The OpenAI form chat templates expect in their <c>tools</c> variable, as Hugging Face's transformers passes it.</summary>
    public JsonObject ToTemplateJson()
    {
        var function = new JsonObject { ["name"] = Name };
        if (Description is not null)
            function["description"] = Description;
        if (Parameters is not null)
            function["parameters"] = Parameters.DeepClone();
        return new JsonObject { ["type"] = "function", ["function"] = function };
    }
}
