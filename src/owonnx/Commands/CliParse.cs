using OpenWeights.Onnx.Conversion;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>Option parsing whose errors say what is allowed.</summary>
internal static class CliParse
{
    public static T Enum<T>(string option, string value) where T : struct, System.Enum =>
        System.Enum.TryParse<T>(value, ignoreCase: true, out var parsed) && System.Enum.IsDefined(parsed) && !int.TryParse(value, out _)
            ? parsed
            : throw new ArgumentException(
                $"{option} '{value}' is not one of: {string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}.");

    public static ExecutionTarget Target(string value) => Enum<ExecutionTarget>("--ep", value);
}
