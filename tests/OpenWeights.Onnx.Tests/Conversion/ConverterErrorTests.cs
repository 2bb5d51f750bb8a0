using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>Bad checkpoints fail with specific messages and leave nothing behind where the output would be.</summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ConverterErrorTests
{
    private static readonly ModelConverter Converter = new(KnownFamilies.All);

    private static string CopyFixture(string fixture)
    {
        string dir = TestFixtures.Scratch(fixture);
        foreach (var f in Directory.GetFiles(TestFixtures.Hf(fixture)))
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        foreach (var f in Directory.GetFiles(dir))
            File.SetAttributes(f, FileAttributes.Normal);
        return dir;
    }

    [TestMethod]
    public void UnsupportedArchitectureListsTheSupportedOnes()
    {
        string dir = CopyFixture("llama");
        File.WriteAllText(Path.Combine(dir, "config.json"),
            File.ReadAllText(Path.Combine(dir, "config.json")).Replace("LlamaForCausalLM", "FalconForCausalLM"));
        string output = Path.Combine(TestFixtures.Scratch("out"), "model");
        var e = Assert.ThrowsExactly<CheckpointException>(() => Converter.Convert(dir, output, new ConversionOptions()));
        StringAssert.Contains(e.Message, "FalconForCausalLM");
        StringAssert.Contains(e.Message, "LlamaForCausalLM");
        StringAssert.Contains(e.Message, "Qwen2ForCausalLM");
        Assert.IsFalse(Directory.Exists(output));
    }

    [TestMethod]
    public void UnsupportedRopeTypeListsTheSupportedOnes()
    {
        string dir = CopyFixture("llama");
        File.WriteAllText(Path.Combine(dir, "config.json"),
            File.ReadAllText(Path.Combine(dir, "config.json")).Replace("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 2.0}"));
        var e = Assert.ThrowsExactly<CheckpointException>(() =>
            Converter.Convert(dir, Path.Combine(TestFixtures.Scratch("out"), "model"), new ConversionOptions()));
        StringAssert.Contains(e.Message, "dynamic");
        StringAssert.Contains(e.Message, "llama3");
        StringAssert.Contains(e.Message, "yarn");
    }

    [TestMethod]
    public void MissingTensorIsNamedAndNoOutputIsLeft()
    {
        string dir = CopyFixture("llama");
        // Rename a tensor in the header (same length keeps offsets valid).
        string model = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(model);
        var text = System.Text.Encoding.Latin1.GetString(bytes);
        text = text.Replace("model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.UP_proj.weight");
        File.WriteAllBytes(model, System.Text.Encoding.Latin1.GetBytes(text));

        string parent = TestFixtures.Scratch("out");
        string output = Path.Combine(parent, "model");
        var e = Assert.ThrowsExactly<CheckpointException>(() => Converter.Convert(dir, output, new ConversionOptions()));
        StringAssert.Contains(e.Message, "model.layers.1.mlp.up_proj.weight");
        Assert.AreEqual(0, Directory.GetFileSystemEntries(parent).Length, "a failed conversion must leave nothing behind");
    }

    [TestMethod]
    public void ShapeMismatchWithConfigIsNamed()
    {
        string dir = CopyFixture("llama");
        File.WriteAllText(Path.Combine(dir, "config.json"),
            File.ReadAllText(Path.Combine(dir, "config.json")).Replace("\"intermediate_size\": 160", "\"intermediate_size\": 128"));
        string parent = TestFixtures.Scratch("out");
        var e = Assert.ThrowsExactly<CheckpointException>(() =>
            Converter.Convert(dir, Path.Combine(parent, "model"), new ConversionOptions()));
        StringAssert.Contains(e.Message, "mlp");
        StringAssert.Contains(e.Message, "160");
        Assert.AreEqual(0, Directory.GetFileSystemEntries(parent).Length, "the staging folder must be removed");
    }

    [TestMethod]
    public void CancellationLeavesNoOutputAndExistingOutputSurvivesWithoutOverwrite()
    {
        string parent = TestFixtures.Scratch("out");
        string output = Path.Combine(parent, "model");
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsExactly<OperationCanceledException>(() =>
            Converter.Convert(TestFixtures.Hf("llama"), output, new ConversionOptions(), null, cts.Token));
        Assert.AreEqual(0, Directory.GetFileSystemEntries(parent).Length);

        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "keep.txt"), "mine");
        var exists = Assert.ThrowsExactly<OutputExistsException>(() => Converter.Convert(TestFixtures.Hf("llama"), output, new ConversionOptions()));
        StringAssert.Contains(exists.Message, "ConversionOptions.Overwrite", "a library error names the library's option");
        Assert.AreEqual("mine", File.ReadAllText(Path.Combine(output, "keep.txt")));

        // --overwrite replaces only a previous owonnx output: a folder holding the user's file stays as it is.
        var refused = Assert.ThrowsExactly<IOException>(() => Converter.Convert(TestFixtures.Hf("llama"), output, new ConversionOptions { Overwrite = true }));
        StringAssert.Contains(refused.Message, "not an owonnx output");
        Assert.AreEqual("mine", File.ReadAllText(Path.Combine(output, "keep.txt")));

        File.Delete(Path.Combine(output, "keep.txt"));
        Converter.Convert(TestFixtures.Hf("llama"), output, new ConversionOptions { Overwrite = true });
        Converter.Convert(TestFixtures.Hf("llama"), output, new ConversionOptions { Overwrite = true });
        Assert.IsTrue(File.Exists(Path.Combine(output, ModelConverter.ModelFile)));
        Assert.AreEqual(1, Directory.GetFileSystemEntries(parent).Length, "no staging or backup folder may remain");
    }
}
