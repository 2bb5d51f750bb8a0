using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Adapters;

/// <summary>
/// Run-time adapters: one base converted with adapter inputs, the PEFT adapter prepared for it (<c>owonnx adapter</c>),
/// and the runtime binding it per slot. Against transformers' references with the adapter, and, in the same batch,
/// a slot without the adapter against the base model's references.
/// </summary>
[TestClass]
[TestCategory(Category.Parity)]
public sealed class LoraRuntimeTests
{
    private static readonly Lazy<string> BaseFp32 = new(() => Convert(Precision.Fp32));
    private static readonly Lazy<string> AdapterForFp32 = new(() => Prepare(BaseFp32.Value));

    internal static string BaseWithInputs(Precision precision) => precision == Precision.Fp32 ? BaseFp32.Value : Convert(precision);
    internal static string AdapterFileFor(string baseFolder) => baseFolder == BaseFp32.Value ? AdapterForFp32.Value : Prepare(baseFolder);

    private static string Convert(Precision precision)
    {
        string output = Path.Combine(TestFixtures.Scratch("lora-base"), "llama-" + precision.ToString().ToLowerInvariant());
        new ModelConverter(KnownFamilies.All).Convert(TestFixtures.Hf(LoraReference.Base), output,
            new ConversionOptions { Precision = precision, AdapterInputs = true });
        return output;
    }

    private static string Prepare(string baseFolder, float scale = 1f)
    {
        string output = Path.Combine(TestFixtures.Scratch("lora-file"), "adapter.safetensors");
        AdapterPreparation.Prepare(LoraReference.AdapterDirectory, baseFolder, output, scale);
        return output;
    }

    [TestMethod]
    public void RunTimeAdapterOnFp32BaseMatchesTheAdapterReferenceAtEveryStep()
    {
        var adapter = AdapterFile.Load(AdapterForFp32.Value);
        using var model = LanguageModel.Load(BaseFp32.Value);
        // Two slots, one in use: decode steps run through the binding of the first rows only.
        using var decoder = model.CreateDecoder(2, adapter.Rank);
        decoder.Adapters!.Assign(0, adapter);
        float worst = LoraReference.AssertSingleSequence(decoder);
        Console.WriteLine($"run-time adapter, FP32 base: max |Δlogit| = {worst:E2}");
    }

    [TestMethod]
    public void RunTimeAdapterBatchMatchesTheAdapterReference()
    {
        var adapter = AdapterFile.Load(AdapterForFp32.Value);
        using var model = LanguageModel.Load(BaseFp32.Value);
        using var decoder = model.CreateDecoder(2, adapter.Rank);
        decoder.Adapters!.Assign(0, adapter);
        decoder.Adapters!.Assign(1, adapter);
        LoraReference.AssertBatch(decoder);
    }

    [TestMethod]
    public void OneBatchServesAnAdaptedSlotAndABaseSlotEachExactly()
    {
        var adapter = AdapterFile.Load(AdapterForFp32.Value);
        using var model = LanguageModel.Load(BaseFp32.Value);
        using var decoder = model.CreateDecoder(2, adapter.Rank);
        decoder.Adapters!.Assign(1, adapter); // slot 0 stays the base model
        using var adapted = ReferenceTensors.For(LoraReference.AdapterDirectory);
        using var plain = ReferenceTensors.For(TestFixtures.Hf(LoraReference.Base));
        int vocab = decoder.VocabSize;
        var prompt = adapted.Longs("input_ids").Select(x => (int)x).ToArray();
        var expected = new[] { plain.Floats("decode_step_logits"), adapted.Floats("decode_step_logits") };
        var ids = new[] { plain.Longs("generated_ids"), adapted.Longs("generated_ids") };
        CollectionAssert.AreNotEqual(ids[0], ids[1], "the fixture's adapter must change the greedy ids");

        var logits = new float[2 * vocab];
        decoder.Append(0, prompt).CopyTo(logits.AsSpan(0, vocab));
        decoder.Append(1, prompt).CopyTo(logits.AsSpan(vocab, vocab));
        var tokens = new int[2];
        for (int step = 0; step < ids[0].Length; step++)
        {
            for (int s = 0; s < 2; s++)
            {
                var row = logits.AsSpan(s * vocab, vocab);
                float diff = Logits.MaxAbsDiff(row, expected[s].AsSpan(step * vocab, vocab));
                Assert.IsLessThanOrEqualTo(LoraReference.Tolerance, diff, $"slot {s} ({(s == 0 ? "base" : "adapter")}) step {step} differs by {diff}");
                tokens[s] = Logits.ArgMax(row);
                Assert.AreEqual(ids[s][step], tokens[s], $"slot {s} greedy id at step {step}");
            }
            decoder.Step(tokens, [true, true]).CopyTo(logits);
        }
    }

    [TestMethod]
    public void ASequenceMovedToAnotherSlotKeepsItsAdapter()
    {
        var adapter = AdapterFile.Load(AdapterForFp32.Value);
        using var model = LanguageModel.Load(BaseFp32.Value);
        using var decoder = model.CreateDecoder(2, adapter.Rank);
        using var reference = ReferenceTensors.For(LoraReference.AdapterDirectory);
        int vocab = decoder.VocabSize;
        decoder.Adapters!.Assign(1, adapter);
        var logits = decoder.Append(1, reference.Longs("input_ids").Select(x => (int)x).ToArray()).ToArray();
        decoder.MoveSlot(1, 0); // as the scheduler compacts its slots when slot 0's sequence ends
        Assert.AreSame(adapter, decoder.Adapters.Assigned(0));
        var expected = reference.Floats("decode_step_logits");
        var ids = reference.Longs("generated_ids");
        for (int step = 0; step < ids.Length; step++)
        {
            float diff = Logits.MaxAbsDiff(logits, expected.AsSpan(step * vocab, vocab));
            Assert.IsLessThanOrEqualTo(LoraReference.Tolerance, diff, $"step {step} after the move differs by {diff}");
            Assert.AreEqual(ids[step], Logits.ArgMax(logits), $"greedy id at step {step}");
            logits = decoder.Step([(int)ids[step], 0], [true, false]).Slice(0, vocab).ToArray();
        }
    }

    [TestMethod]
    public void TheBaseWithAdapterInputsIsStillTheBaseWithoutOne()
    {
        using var model = LanguageModel.Load(BaseFp32.Value);
        using var decoder = model.CreateDecoder(1);
        using var plain = ReferenceTensors.For(TestFixtures.Hf(LoraReference.Base));
        var prompt = plain.Longs("input_ids").Select(x => (int)x).ToArray();
        var all = new float[prompt.Length * decoder.VocabSize];
        decoder.Append(0, prompt, all);
        float diff = Logits.MaxAbsDiff(all, plain.Floats("full_logits"));
        Assert.IsLessThanOrEqualTo(LoraReference.Tolerance, diff, $"base logits with empty adapter inputs differ by {diff}");
    }

    [TestMethod]
    public void PreparingForABaseWithoutAdapterInputsIsAClearError()
    {
        var e = Assert.ThrowsExactly<OpenWeights.Onnx.Checkpoints.CheckpointException>(() =>
            AdapterPreparation.Prepare(LoraReference.AdapterDirectory, ConvertedFixtures.Hf(LoraReference.Base),
                Path.Combine(TestFixtures.Scratch("lora-no-inputs"), "a.safetensors")));
        StringAssert.Contains(e.Message, "--adapter-inputs");
    }
}
