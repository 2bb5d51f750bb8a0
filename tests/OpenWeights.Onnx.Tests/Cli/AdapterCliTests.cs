using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Cli;

/// <summary>
/// The adapter commands as a user runs them: <c>convert --adapter-inputs</c>, <c>owonnx adapter</c>, and
/// <c>run --adapter</c> giving the same text as the adapter merged with <c>convert --lora</c>; bad options fail clearly.
/// </summary>
[TestClass]
[TestCategory(Category.Process)]
public sealed class AdapterCliTests
{
    private static readonly string[] Prompt = ["--prompt", "A fool and his money", "--max-new-tokens", "16"];

    [TestMethod]
    public async Task RunWithAnAdapterGivesTheMergedModelsText()
    {
        string peft = DerivedAdapter.Write(TestFixtures.FortuneLlama, rank: 8, alpha: 16, seed: 15, sigma: 0.1f);
        string scratch = TestFixtures.Scratch("adapter-cli");
        string baseModel = Path.Combine(scratch, "base"), merged = Path.Combine(scratch, "merged"), file = Path.Combine(scratch, "a.safetensors");

        await Succeeds("convert", "--sample", "--adapter-inputs", "--output", baseModel);
        await Succeeds("convert", "--sample", "--lora", peft, "--output", merged);
        var prepared = await Succeeds("adapter", peft, "--base", baseModel, "--output", file);
        StringAssert.Contains(prepared.StandardOutput, "42 adapted layers, rank 8");

        string withAdapter = (await Succeeds(["run", baseModel, "--adapter", file, .. Prompt])).StandardOutput;
        string mergedText = (await Succeeds(["run", merged, .. Prompt])).StandardOutput;
        string baseText = (await Succeeds(["run", baseModel, .. Prompt])).StandardOutput;
        Assert.AreEqual(mergedText, withAdapter);
        Assert.AreNotEqual(baseText, withAdapter, "the adapter must change the text");
    }

    [TestMethod]
    public async Task BadAdapterOptionsFailWithAClearMessage()
    {
        string scratch = TestFixtures.Scratch("adapter-cli-bad");
        var scaleAlone = await OwonnxCli.RunAsync("convert", "--sample", "--lora-scale", "2", "--output", Path.Combine(scratch, "x"));
        Assert.AreEqual(2, scaleAlone.ExitCode, scaleAlone.StandardError);
        StringAssert.Contains(scaleAlone.StandardError, "--lora-scale was given without a --lora");

        var notPeft = await OwonnxCli.RunAsync("convert", "--sample", "--lora", scratch, "--output", Path.Combine(scratch, "y"));
        Assert.AreEqual(1, notPeft.ExitCode, notPeft.StandardError);
        StringAssert.Contains(notPeft.StandardError, "adapter_config.json");
        Assert.IsFalse(Directory.Exists(Path.Combine(scratch, "y")));

        var notAdapter = await OwonnxCli.RunAsync("run", ConvertedFixtures.Get(TestFixtures.FortuneLlama), "--adapter",
            Path.Combine(TestFixtures.FortuneLlama, "model.safetensors"), "--prompt", "x");
        Assert.AreEqual(1, notAdapter.ExitCode, notAdapter.StandardError);
        StringAssert.Contains(notAdapter.StandardError, "not an owonnx run-time adapter");
    }

    private static async Task<CliWrap.Buffered.BufferedCommandResult> Succeeds(params string[] arguments)
    {
        var result = await OwonnxCli.RunAsync(arguments);
        Assert.AreEqual(0, result.ExitCode, $"owonnx {string.Join(' ', arguments)}: {result.StandardError}");
        return result;
    }
}
