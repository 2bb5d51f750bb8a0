using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Adapters;

/// <summary>
/// <c>convert --lora</c>: the adapter merged into the weights at conversion (W + scale·B·A in float32) reproduces
/// what transformers computes with the adapter's term added by hooks, to 1e-4 at every position and step.
/// </summary>
[TestClass]
[TestCategory(Category.Parity)]
public sealed class LoraMergeTests
{
    private static readonly Lazy<string> MergedFp32 = new(() => Convert("merged", new ConversionOptions
    {
        Adapters = [new AdapterMerge(LoraReference.AdapterDirectory)],
    }));

    internal static string MergedFp32Folder => MergedFp32.Value;

    private static string Convert(string name, ConversionOptions options)
    {
        string output = Path.Combine(TestFixtures.Scratch("lora-" + name), "model");
        new ModelConverter(KnownFamilies.All).Convert(TestFixtures.Hf(LoraReference.Base), output, options);
        return output;
    }

    [TestMethod]
    public void MergedFp32MatchesTheAdapterReferenceAtEveryStep()
    {
        using var model = LanguageModel.Load(MergedFp32.Value);
        using var decoder = model.CreateDecoder(1);
        float worst = LoraReference.AssertSingleSequence(decoder);
        Console.WriteLine($"merged FP32: max |Δlogit| over prompt and decode steps = {worst:E2}");
    }

    [TestMethod]
    public void MergedFp32BatchMatchesTheAdapterReference()
    {
        using var model = LanguageModel.Load(MergedFp32.Value);
        using var decoder = model.CreateDecoder(2);
        LoraReference.AssertBatch(decoder);
    }

    [TestMethod]
    public void TwoHalfScaleMergesAddUpToOneFullMerge()
    {
        // Several --lora add in order: the same adapter twice at scale 0.5 is the adapter once.
        string twice = Convert("twice", new ConversionOptions
        {
            Adapters = [new AdapterMerge(LoraReference.AdapterDirectory, 0.5f), new AdapterMerge(LoraReference.AdapterDirectory, 0.5f)],
        });
        using var model = LanguageModel.Load(twice);
        using var decoder = model.CreateDecoder(1);
        LoraReference.AssertSingleSequence(decoder);
    }

    [TestMethod]
    public void AnAdapterForAnotherBaseIsRefusedBeforeWriting()
    {
        // Phi-3 fuses q/k/v into qkv_proj: the adapter's q_proj is no module of it.
        string output = Path.Combine(TestFixtures.Scratch("lora-wrong-base"), "model");
        var e = Assert.ThrowsExactly<CheckpointException>(() => new ModelConverter(KnownFamilies.All).Convert(
            TestFixtures.Hf("phi3"), output, new ConversionOptions { Adapters = [new AdapterMerge(LoraReference.AdapterDirectory)] }));
        Console.WriteLine(e.Message);
        StringAssert.Contains(e.Message, "not linear layers of the base model");
        StringAssert.Contains(e.Message, "'model.layers.0.self_attn.k_proj'");
        Assert.IsFalse(Directory.Exists(output), "nothing may be written for a refused adapter");
    }
}
