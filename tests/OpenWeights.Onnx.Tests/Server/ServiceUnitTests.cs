using System.Diagnostics;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>The systemd unit in eng/systemd is one systemd accepts, and its ExecStart is an owonnx command line that parses.</summary>
[TestClass]
[TestCategory(Category.Process)]
public sealed class ServiceUnitTests
{
    private static string Unit => Path.Combine(TestFixtures.Root, "..", "..", "eng", "systemd", "owonnx.service");

    private static string ExecStart(string unit) =>
        File.ReadAllLines(unit).Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal))["ExecStart=".Length..];

    [TestMethod]
    public async Task SystemdAcceptsTheUnit()
    {
        const string analyze = "/usr/bin/systemd-analyze";
        if (!File.Exists(analyze))
            Assert.Inconclusive("systemd-analyze is not installed here (apt-get install systemd)");
        // verify also checks that the binary exists: point ExecStart at the built owonnx.
        string folder = TestFixtures.Scratch("unit");
        string unit = Path.Combine(folder, "owonnx.service");
        File.WriteAllText(unit, File.ReadAllText(Unit).Replace("/opt/owonnx/owonnx", OwonnxCli.Path));
        var start = new ProcessStartInfo(analyze) { ArgumentList = { "verify", unit }, RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        string errors = await process.StandardError.ReadToEndAsync() + await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.AreEqual(0, process.ExitCode, errors);
        Assert.AreEqual("", errors.Trim(), "no warnings either (an unknown key is only a warning)");
    }

    [TestMethod]
    public async Task ItsCommandLineIsAValidServeInvocation()
    {
        // With a folder that does not exist the options are parsed and checked, and serve stops before binding.
        string[] words = ExecStart(Unit).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual("/opt/owonnx/owonnx", words[0]);
        Assert.AreEqual("serve", words[1]);
        string missing = Path.Combine(TestFixtures.Scratch("unit-model"), "model");
        var result = await OwonnxCli.RunAsync(["serve", missing, .. words[3..]]);
        Assert.AreEqual(2, result.ExitCode, result.StandardError);
        StringAssert.Contains(result.StandardError, "model folder not found");
    }
}
