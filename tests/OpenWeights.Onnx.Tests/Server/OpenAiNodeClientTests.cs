using CliWrap;
using CliWrap.Buffered;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// The official <c>openai</c> npm package, run with node, does the full tool round trip against the server, whole
/// and streamed (tests/clients/node/tool-round-trip.mjs: every check is in the script; it exits non-zero naming
/// the one that failed). Skipped only when node is not installed; the package comes from <c>npm ci</c> (.ci/run).
/// </summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class OpenAiNodeClientTests
{
    private static string ClientFolder => Path.Combine(TestFixtures.RepositoryRoot, "tests", "clients", "node");

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task TheNpmClientDoesAToolRoundTrip()
    {
        string? node = FindOnPath("node");
        if (node is null)
            Assert.Inconclusive("node is not installed: the openai npm package cannot be run (install Node.js 20 or later).");
        Assert.IsTrue(File.Exists(Path.Combine(ClientFolder, "node_modules", "openai", "package.json")),
            $"the openai npm package is not installed: run 'npm ci --prefix {ClientFolder}' (.ci/run does).");

        await using var server = await TestServer.StartAsync(o => o with { ChatTemplateFile = ServerToolCallTests.ToolsTemplate });
        var result = await CliWrap.Cli.Wrap(node)
            .WithArguments(["tool-round-trip.mjs"])
            .WithWorkingDirectory(ClientFolder)
            .WithEnvironmentVariables(e => e
                .Set("OWONNX_BASE_URL", new Uri(server.BaseAddress, "v1").ToString())
                .Set("OWONNX_MODEL", TestServer.ModelId))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync();
        string output = $"stdout:\n{result.StandardOutput}\nstderr:\n{result.StandardError}";
        Assert.AreEqual(0, result.ExitCode, output);
        StringAssert.StartsWith(result.StandardOutput, "OK ", output);
    }
}
