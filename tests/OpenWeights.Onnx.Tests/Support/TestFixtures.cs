namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// Locates the reference fixtures that live in the repository (<c>tests/fixtures</c>, copied with their
/// provenance from the project's shared fixture set) and the scratch folders tests make.
/// A fresh clone has everything: nothing outside the repository is read.
/// </summary>
public static class TestFixtures
{
    private static readonly Lazy<string> RepoRoot = new(FindRepositoryRoot);

    public static string Root => Path.Combine(RepoRoot.Value, "tests", "fixtures");
    public static string RepositoryRoot => RepoRoot.Value;
    public static string Hf(string name) => Path.Combine(Root, "hf", name);
    public static string Lora(string name) => Path.Combine(Root, "lora", name);
    public static string Tokenizers(string name) => Path.Combine(Root, "tokenizers", name);

    /// <summary>The built-in sample checkpoint (the same files as the shared <c>models/fortune-llama</c>).</summary>
    public static string FortuneLlama => Path.Combine(RepoRoot.Value, "src", "owonnx", "sample", "fortune-llama");

    /// <summary>The folder with transformers' reference numbers for the sample (<c>reference.json</c>, <c>reference.safetensors</c>).</summary>
    public static string FortuneLlamaReferences => Path.Combine(Root, "models", "fortune-llama");

    /// <summary>transformers' reference numbers for the sample (perplexity, greedy texts).</summary>
    public static string FortuneLlamaReference => Path.Combine(FortuneLlamaReferences, "reference.json");

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (dir.GetFiles("OpenWeights.Onnx.sln").Length > 0)
                return dir.FullName;
        throw new DirectoryNotFoundException($"OpenWeights.Onnx.sln not found above {AppContext.BaseDirectory}.");
    }

    /// <summary>A fresh scratch folder under the test run's temp directory (removed by <see cref="ScratchCleanup"/>).</summary>
    public static string Scratch(string name)
    {
        string path = Path.Combine(ScratchRoot, $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>One folder per test process, so parallel runs never delete each other's files.</summary>
    public static readonly string ScratchRoot = Path.Combine(Path.GetTempPath(), "owonnx-tests", $"run-{Environment.ProcessId}");
}
