using System.Text.RegularExpressions;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// The library's folders are the stages of its data flow (checkpoint → model description → graph → weights → files →
/// session → generation), so a dependency between them may only point one way. A cycle between two folders means a
/// type sits in the wrong one; this test names the cycle instead of letting it grow unnoticed.
/// </summary>
[TestClass]
[TestCategory(Category.Unit)]
public sealed partial class NamespaceDependencyTests
{
    private const string Root = "OpenWeights.Onnx";

    [GeneratedRegex(@"^using OpenWeights\.Onnx\.([A-Za-z]+)(?:\.[A-Za-z.]+)?;", RegexOptions.Multiline)]
    private static partial Regex UsingLine();

    [GeneratedRegex(@"\bOpenWeights\.Onnx\.([A-Z][A-Za-z]+)\.[A-Z]")]
    private static partial Regex QualifiedName();

    [TestMethod]
    public void TheLibrarysFoldersDependOnEachOtherWithoutCycles()
    {
        var graph = Dependencies(Path.Combine(TestFixtures.RepositoryRoot, "src", Root));
        Assert.IsTrue(graph.Count >= 10, $"expected the library's folders, found {graph.Count}: {string.Join(", ", graph.Keys)}");

        var cycles = new List<string>();
        foreach (var (from, targets) in graph)
            foreach (var to in targets)
                if (Reaches(graph, to, from, []) is { } path)
                    cycles.Add($"{from} -> {string.Join(" -> ", path)}");
        Assert.AreEqual(0, cycles.Count, "namespace cycles:\n" + string.Join("\n", cycles.Distinct()));
    }

    [TestMethod]
    public void TheCheckerSeesACycle()
    {
        var graph = new Dictionary<string, HashSet<string>>
        {
            ["Graph"] = ["Conversion"], ["Conversion"] = ["Graph", "Checkpoints"], ["Checkpoints"] = [],
        };
        CollectionAssert.AreEqual(new[] { "Graph", "Conversion", "Checkpoints" }, Reaches(graph, "Graph", "Checkpoints", [])?.ToArray());
        Assert.IsNotNull(Reaches(graph, "Conversion", "Graph", []));
        Assert.IsNull(Reaches(graph, "Checkpoints", "Graph", []));
    }

    /// <summary>Folder → the other library folders its files name, by <c>using</c> or by a qualified name.</summary>
    private static Dictionary<string, HashSet<string>> Dependencies(string library)
    {
        var folders = Directory.GetDirectories(library)
            .Select(Path.GetFileName)
            .Where(name => name is not ("bin" or "obj"))
            .ToHashSet(StringComparer.Ordinal)!;
        var graph = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var folder in folders)
        {
            var targets = new HashSet<string>(StringComparer.Ordinal);
            foreach (var file in Directory.EnumerateFiles(Path.Combine(library, folder!), "*.cs", SearchOption.AllDirectories))
            {
                string text = File.ReadAllText(file);
                foreach (Match m in UsingLine().Matches(text)) targets.Add(m.Groups[1].Value);
                foreach (Match m in QualifiedName().Matches(text)) targets.Add(m.Groups[1].Value);
            }
            targets.Remove(folder!);
            targets.IntersectWith(folders!);
            graph[folder!] = targets;
        }
        return graph;
    }

    /// <summary>A path from <paramref name="from"/> to <paramref name="to"/>, or null.</summary>
    private static List<string>? Reaches(Dictionary<string, HashSet<string>> graph, string from, string to, HashSet<string> seen)
    {
        if (from == to) return [to];
        if (!seen.Add(from) || !graph.TryGetValue(from, out var next)) return null;
        foreach (var n in next)
            if (Reaches(graph, n, to, seen) is { } rest)
                return [from, .. rest];
        return null;
    }
}
