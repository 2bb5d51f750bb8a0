using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Constraints;

/// <summary><c>owonnx run --json-schema FILE</c> / <c>--json</c>: the printed text validates; bad schemas are usage errors.</summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class ConstrainedRunCliTests
{
    [TestMethod]
    public async Task RunWithASchemaPrintsAValidDocument()
    {
        string schema = ConstrainedGenerationTests.Schemas[0];
        string file = Path.Combine(TestFixtures.Scratch("schema"), "mood.json");
        File.WriteAllText(file, schema);
        var result = await OwonnxCli.RunAsync("run", FortuneReference.ConvertedFp32, "--prompt", "A fool and his money",
            "--json-schema", file, "--temperature", "1", "--seed", "5", "--max-new-tokens", "128");
        Assert.AreEqual(0, result.ExitCode, result.StandardError);
        Assert.IsNull(SchemaValidation.Problem(schema, result.StandardOutput.TrimEnd('\n')), result.StandardOutput);

        var json = await OwonnxCli.RunAsync("run", FortuneReference.ConvertedFp32, "--prompt", "A fool", "--json", "--max-new-tokens", "8");
        Assert.AreEqual(0, json.ExitCode, json.StandardError);
        StringAssert.StartsWith(json.StandardOutput, "{");
    }

    [TestMethod]
    public async Task BadSchemasAreUsageErrorsNamingFileAndKeyword()
    {
        string file = Path.Combine(TestFixtures.Scratch("schema"), "bad.json");
        File.WriteAllText(file, """{"type":"string","minLength":3}""");
        var bad = await OwonnxCli.RunAsync("run", FortuneReference.ConvertedFp32, "--prompt", "A", "--json-schema", file);
        Assert.AreEqual(2, bad.ExitCode, bad.StandardError);
        StringAssert.Contains(bad.StandardError, file);
        StringAssert.Contains(bad.StandardError, "minLength");

        var missing = await OwonnxCli.RunAsync("run", FortuneReference.ConvertedFp32, "--prompt", "A", "--json-schema", file + ".nope");
        Assert.AreEqual(2, missing.ExitCode, missing.StandardError);
        StringAssert.Contains(missing.StandardError, "not found");

        var both = await OwonnxCli.RunAsync("run", FortuneReference.ConvertedFp32, "--prompt", "A", "--json-schema", file, "--json");
        Assert.AreEqual(2, both.ExitCode, both.StandardError);
    }
}
