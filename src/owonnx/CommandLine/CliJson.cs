using System.Text.Json;
using System.Text.Json.Serialization;

namespace OpenWeights.Onnx.Cli.CommandLine;

/// <summary>One JSON style for every --json report: snake_case, indented, enums by name.</summary>
internal static class CliJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter() },
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}
