using OpenWeights.Onnx.Cli.CommandLine;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>The built-in sample checkpoint, shipped beside the binary (see sample/fortune-llama/README.md).</summary>
internal static class Sample
{
    public static string Directory
    {
        get
        {
            string path = Path.Combine(AppContext.BaseDirectory, "sample", "fortune-llama");
            return System.IO.Directory.Exists(path)
                ? path
                : throw new IOException($"{path}: the built-in sample is missing from this installation (reinstall owonnx)");
        }
    }

    public static string ResolveCheckpoint(string? checkpoint, bool sample) => (checkpoint, sample) switch
    {
        (null, true) => Directory,
        (not null, false) => checkpoint,
        (null, false) => throw new UsageException("no checkpoint folder (give one, or --sample for the built-in sample model)"),
        _ => throw new UsageException("both a checkpoint folder and --sample were given (give one of them)"),
    };
}
