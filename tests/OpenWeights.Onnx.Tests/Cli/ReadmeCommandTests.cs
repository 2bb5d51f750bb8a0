using System.Text;
using System.Text.RegularExpressions;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Cli;

/// <summary>The README's quick tour is executed line by line: if a documented command stops working, CI fails.</summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class ReadmeCommandTests
{
    private static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "OpenWeights.Onnx.sln")))
                    return dir.FullName;
            throw new DirectoryNotFoundException("repository root (OpenWeights.Onnx.sln) not found");
        }
    }

    public static IReadOnlyList<string> QuickTourCommands()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        var block = Regex.Match(readme, "<!-- readme-test:start -->(.*?)<!-- readme-test:end -->", RegexOptions.Singleline);
        Assert.IsTrue(block.Success, "README.md lost its readme-test block");
        return block.Groups[1].Value.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("owonnx ", StringComparison.Ordinal)).ToList();
    }

    [TestMethod]
    public async Task EveryQuickTourCommandSucceeds()
    {
        var commands = QuickTourCommands();
        Assert.IsGreaterThanOrEqualTo(5, commands.Count);
        string work = TestFixtures.Scratch("readme");
        foreach (var command in commands)
        {
            var args = Split(command)[1..]
                .Select(a => a.StartsWith("src/", StringComparison.Ordinal) ? Path.Combine(RepositoryRoot, a) : a)
                .Select(a => a == "fortune-int4" ? Path.Combine(work, a) : a)
                .ToArray();
            var result = await OwonnxCli.RunAsync(args);
            Assert.AreEqual(0, result.ExitCode, $"README command failed: {command}\n{result.StandardError}");
            Assert.IsFalse(string.IsNullOrWhiteSpace(result.StandardOutput), $"README command printed nothing: {command}");
        }
    }

    /// <summary>Shell-like splitting on spaces, honouring double quotes (all the README uses).</summary>
    private static string[] Split(string line)
    {
        var parts = new List<string>();
        var current = new StringBuilder();
        bool quoted = false, any = false;
        foreach (char c in line)
        {
            if (c == '"') { quoted = !quoted; any = true; }
            else if (c == ' ' && !quoted)
            {
                if (any) parts.Add(current.ToString());
                current.Clear();
                any = false;
            }
            else { current.Append(c); any = true; }
        }
        if (any) parts.Add(current.ToString());
        return parts.ToArray();
    }
}
