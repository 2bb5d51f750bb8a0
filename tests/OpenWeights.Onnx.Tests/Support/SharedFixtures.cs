namespace OpenWeights.Onnx.Tests.Support;

/// <summary>Locates <c>../shared</c> (beside the repository, also in CI) and the converted copies tests make.</summary>
public static class SharedFixtures
{
    private static readonly Lazy<string> SharedRoot = new(FindShared);

    public static string Root => SharedRoot.Value;
    public static string Hf(string name) => Path.Combine(Root, "fixtures", "hf", name);
    public static string FortuneLlama => Path.Combine(Root, "models", "fortune-llama");
    public static string Tokenizers(string name) => Path.Combine(Root, "fixtures", "tokenizers", name);

    private static string FindShared()
    {
        if (Environment.GetEnvironmentVariable("OWONNX_SHARED") is { Length: > 0 } env && Directory.Exists(env))
            return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared");
            if (Directory.Exists(Path.Combine(candidate, "fixtures")) && dir.GetFiles("*.sln").Length == 0)
                return candidate;
            if (dir.GetFiles("OpenWeights.Onnx.sln").Length > 0 && dir.Parent is { } parent
                && Directory.Exists(Path.Combine(parent.FullName, "shared", "fixtures")))
                return Path.Combine(parent.FullName, "shared");
        }
        throw new DirectoryNotFoundException("../shared (with fixtures/) not found beside the repository; set OWONNX_SHARED.");
    }

    /// <summary>A fresh scratch folder under the test run's temp directory.</summary>
    public static string Scratch(string name)
    {
        string path = Path.Combine(Path.GetTempPath(), "owonnx-tests", $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }
}
