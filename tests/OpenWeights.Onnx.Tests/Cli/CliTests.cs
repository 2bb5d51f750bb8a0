using CliWrap.Buffered;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Cli;

/// <summary>The owonnx binary end to end: real processes, real exit codes, text on stdout only.</summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class CliTests
{
    [TestMethod]
    public async Task RunReproducesTheSampleModelsGreedyTextsOnStdout()
    {
        string model = FortuneReference.ConvertedFp32;
        foreach (var reference in FortuneReference.Greedy())
        {
            var result = await OwonnxCli.RunAsync("run", model, "--prompt", reference.Prompt, "--max-new-tokens", "40");
            Assert.AreEqual(0, result.ExitCode, result.StandardError);
            Assert.AreEqual(reference.TextUntilEos + "\n", result.StandardOutput, $"stdout for '{reference.Prompt}'");
            StringAssert.Contains(result.StandardError, "tokens/s");
        }
    }

    [TestMethod]
    public async Task ChatHoldsAConversationFromStandardInput()
    {
        var result = await CliWrap.Cli.Wrap(OwonnxCli.Path)
            .WithArguments(["chat", FortuneReference.ConvertedFp32, "--max-new-tokens", "12"])
            .WithStandardInputPipe(CliWrap.PipeSource.FromString("Tell me a fortune.\nAnother one.\n\n"))
            .WithValidation(CliWrap.CommandResultValidation.None)
            .ExecuteBufferedAsync();
        Assert.AreEqual(0, result.ExitCode, result.StandardError);
        var stats = result.StandardError.Split('\n').Where(l => l.Contains("tokens/s")).ToList();
        Assert.HasCount(2, stats, result.StandardError);
        Assert.DoesNotContain("reused from the cache", stats[0]);
        StringAssert.Contains(stats[1], "reused from the cache", "turn 2 must reuse turn 1's cache");
        Assert.IsFalse(string.IsNullOrWhiteSpace(result.StandardOutput));
    }

    [TestMethod]
    public async Task ConvertThenInspectDescribesTheModel()
    {
        string output = Path.Combine(TestFixtures.Scratch("cli"), "qwen2");
        var convert = await OwonnxCli.RunAsync("convert", TestFixtures.Hf("qwen2"), "--output", output, "--precision", "fp16");
        Assert.AreEqual(0, convert.ExitCode, convert.StandardError);
        StringAssert.Contains(convert.StandardOutput, "Qwen2ForCausalLM");
        StringAssert.Contains(convert.StandardOutput, "tensors");

        var inspect = await OwonnxCli.RunAsync("inspect", output);
        Assert.AreEqual(0, inspect.ExitCode, inspect.StandardError);
        StringAssert.Contains(inspect.StandardOutput, "com.microsoft.GroupQueryAttention");
        StringAssert.Contains(inspect.StandardOutput, "past_key_values.1.value");
        StringAssert.Contains(inspect.StandardOutput, "fp16");

        var checkpoint = await OwonnxCli.RunAsync("inspect", TestFixtures.Hf("llama_bf16"));
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.StandardError);
        StringAssert.Contains(checkpoint.StandardOutput, "LlamaForCausalLM");
        StringAssert.Contains(checkpoint.StandardOutput, "BF16");
    }

    [TestMethod]
    public async Task InspectReportsBitsPerWeightAndSizeByComponentOfAQuantizedModel()
    {
        string model = ConvertedFixtures.Get(TestFixtures.FortuneLlama, OpenWeights.Onnx.Conversion.Precision.Int4);
        var inspect = await OwonnxCli.RunAsync("inspect", model);
        Assert.AreEqual(0, inspect.ExitCode, inspect.StandardError);
        var bits = System.Text.RegularExpressions.Regex.Match(inspect.StandardOutput, @"bits/weight\s+([0-9.]+)");
        Assert.IsTrue(bits.Success, inspect.StandardOutput);
        double value = double.Parse(bits.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        // 4-bit body + float32 scale per 32 weights = 5 bits; INT8 head and table lift the average a little.
        Assert.IsTrue(value is > 4.5 and < 6.5, $"bits/weight {value}");
        foreach (var component in new[] { "mlp", "attention", "embeddings", "lm head", "norms" })
            StringAssert.Contains(inspect.StandardOutput, component);
        StringAssert.Contains(inspect.StandardOutput, "bits=4 block_size=32");
    }

    public static IEnumerable<object[]> BadInvocations =>
    [
        [new[] { "run", "{tmp}", "--prompt", "x" }, 1, "not a converted model folder"],
        [new[] { "run", "{model}", "--prompt", "x", "--top-p", "1.5" }, 2, "--top-p 1.5 is out of range (use a number in (0, 1]"],
        [new[] { "run", "{model}", "--prompt", "x", "--temperature", "-1" }, 2, "--temperature -1 is out of range"],
        [new[] { "run", "{model}", "--prompt", "x", "--ep", "cuda" }, 1, "not available in this build"],
        [new[] { "run", "{model}", "--prompt", "x", "--ep", "npu" }, 2, "--ep 'npu' is not one of: cpu, cuda, tensorrt"],
        [new[] { "run", "{model}", "--prompt", "x", "--max-new-tokens", "100", "--max-length", "64" }, 1, "need 102 tokens but the cache holds 64"],
        [new[] { "convert", "{tmp}", "--output", "{tmp}/out" }, 1, "config.json not found"],
        [new[] { "convert", "{tmp}", "--output", "{tmp}/out", "--precision", "fp8" }, 2, "--precision 'fp8' is not one of"],
        [new[] { "inspect", "{tmp}" }, 1, "neither a converted model"],
        [new[] { "convert", "--sample", "--output", "{tmp}/out", "--precision", "int4", "--block-size", "48" }, 2, "--block-size 48 is not a power of two"],
        [new[] { "convert", "--sample", "--output", "{tmp}/out", "--asymmetric" }, 2, "--asymmetric applies to --precision int8 and int4, not fp32"],
        [new[] { "convert", "--sample", "--output", "{tmp}/out", "--precision", "int8", "--accuracy-level", "7" }, 2, "--accuracy-level 7 is out of range (use a whole number from 0 to 4)"],
        [new[] { "eval", "{model}", "--text", "{tmp}/missing.txt" }, 1, "text file not found"],
    ];

    [TestMethod]
    [DynamicData(nameof(BadInvocations))]
    public async Task BadInputGivesOneClearLineAndTheDocumentedExitCode(string[] arguments, int exitCode, string expected)
    {
        string tmp = TestFixtures.Scratch("bad");
        var args = arguments.Select(a => a.Replace("{tmp}", tmp).Replace("{model}", FortuneReference.ConvertedFp32)).ToArray();
        var result = await OwonnxCli.RunAsync(args);
        Assert.AreEqual(exitCode, result.ExitCode, $"owonnx {string.Join(' ', args)}: {result.StandardError}");
        StringAssert.StartsWith(result.StandardError, "owonnx: ");
        StringAssert.Contains(result.StandardError, expected);
        Assert.AreEqual(1, result.StandardError.TrimEnd().Split('\n').Length, result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError, "no stack traces for users");
        Assert.IsFalse(Directory.Exists(Path.Combine(tmp, "out")), "a failed command writes nothing");
    }
}
