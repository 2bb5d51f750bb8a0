using System.Text.Json;
using Json.Schema;

namespace OpenWeights.Onnx.Tests.Constraints;

/// <summary>The independent check of constrained output: System.Text.Json parses it, JsonSchema.Net validates it.</summary>
internal static class SchemaValidation
{
    /// <summary>Null when <paramref name="text"/> is one JSON document valid against <paramref name="schemaJson"/>; else why not.</summary>
    public static string? Problem(string schemaJson, string text)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            return $"not JSON: {e.Message}";
        }
        using (doc)
        {
            var schema = JsonSchema.FromText(schemaJson);
            var result = schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (result.IsValid)
                return null;
            var errors = (result.Details ?? []).Where(d => d.Errors is not null)
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"));
            return "invalid: " + string.Join("; ", errors);
        }
    }
}
