using CliWrap;
using CliWrap.Buffered;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>Runs the built owonnx binary as a user would, capturing stdout, stderr and the exit code.</summary>
public static class OwonnxCli
{
    private static readonly Lazy<string> Binary = new(Find);

    public static string Path => Binary.Value;

    private static string Find()
    {
        // tests/OpenWeights.Onnx.Tests/bin/<Configuration>/net10.0/linux-x64/ → src/owonnx/bin/<Configuration>/...
        var bin = new DirectoryInfo(AppContext.BaseDirectory);
        string rid = bin.Name, framework = bin.Parent!.Name, configuration = bin.Parent.Parent!.Name;
        var repo = bin.Parent.Parent.Parent!.Parent!.Parent!.Parent!;
        string path = System.IO.Path.Combine(repo.FullName, "src", "owonnx", "bin", configuration, framework, rid, "owonnx");
        return File.Exists(path) ? path : throw new FileNotFoundException($"owonnx binary not built at {path}");
    }

    public static async Task<BufferedCommandResult> RunAsync(params string[] arguments) =>
        await CliWrap.Cli.Wrap(Path)
            .WithArguments(arguments)
            .WithValidation(CommandResultValidation.None)
            .WithEnvironmentVariables(e => e.Set("ORT_DISABLE_TELEMETRY", "1"))
            .ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token);
}
