namespace OpenWeights.Onnx.Tests.Tokenization;

/// <summary>Locates <c>tests/OpenWeights.Onnx.Tests/Tokenization/Data</c> from the test binaries (it is not copied to bin/).</summary>
internal static class TokenizationTestData
{
    private const string Relative = "tests/OpenWeights.Onnx.Tests/Tokenization/Data";

    public static string File(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, Relative, name);
            if (System.IO.File.Exists(candidate))
                return candidate;
        }
        throw new FileNotFoundException($"{Relative}/{name} not found above {AppContext.BaseDirectory}.");
    }
}
