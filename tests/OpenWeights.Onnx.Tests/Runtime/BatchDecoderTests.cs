using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Runtime;

/// <summary>
/// Our runtime's cache and step loop against the transformers references: a single sequence with the
/// shared past/present buffer, a batch of prompts of different lengths, and rewinding to reuse a prefix.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class BatchDecoderTests
{
    private const float Tolerance = 1e-4f;

    public static IEnumerable<object[]> Fixtures => [["llama"], ["mistral"], ["qwen2"], ["phi3"], ["gemma"], ["gpt2"], ["mixtral"]];

    private static int[] Ints(long[] values) => values.Select(v => (int)v).ToArray();

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void GreedyDecodeWithSharedCacheMatchesReferenceAtEveryStep(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var model = LanguageModel.Load(ConvertedFixtures.Hf(fixture));
        using var decoder = model.CreateDecoder(1);
        int vocab = decoder.VocabSize;
        var expectedLogits = reference.Floats("decode_step_logits");
        var expectedIds = Ints(reference.Longs("generated_ids"));

        var logits = decoder.Append(0, Ints(reference.Longs("input_ids"))).ToArray();
        for (int i = 0; i < expectedIds.Length; i++)
        {
            Assert.IsLessThanOrEqualTo(Tolerance, Logits.MaxAbsDiff(logits, expectedLogits.AsSpan(i * vocab, vocab)), $"step {i}");
            int next = Logits.ArgMax(logits);
            Assert.AreEqual(expectedIds[i], next, $"{fixture}: greedy id at step {i}");
            logits = decoder.Step([next], [true]).ToArray();
        }
        Assert.AreEqual(11 + expectedIds.Length, decoder.Length(0));
    }

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void BatchOfDifferentLengthsGivesEachRowItsReference(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var model = LanguageModel.Load(ConvertedFixtures.Hf(fixture));
        using var decoder = model.CreateDecoder(2);
        ReferenceBatch.AssertGreedy(decoder, reference, Tolerance, fixture);
    }

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void ContinuingACachedPrefixEqualsRecomputingFromScratch(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var model = LanguageModel.Load(ConvertedFixtures.Hf(fixture));
        using var decoder = model.CreateDecoder(1);
        int vocab = decoder.VocabSize;
        var prompt = Ints(reference.Longs("input_ids"));
        var generated = Ints(reference.Longs("generated_ids"));
        var full = reference.Floats("full_logits_prompt_plus_generated"); // [19, vocab], one pass, no cache

        // Turn 1: the prompt plus three tokens, then a different continuation we will throw away.
        decoder.Append(0, prompt);
        decoder.Append(0, generated[..3]);
        decoder.Append(0, [1, 2, 3, 4]);
        // Turn 2 reuses the cache up to the shared prefix and feeds the rest as one multi-token chunk.
        decoder.Rewind(0, prompt.Length + 3);
        var logits = decoder.Append(0, generated[3..7]);
        int lastPosition = prompt.Length + 6;
        float diff = Logits.MaxAbsDiff(logits, full.AsSpan(lastPosition * vocab, vocab));
        Assert.IsLessThanOrEqualTo(Tolerance, diff, $"{fixture}: reused-prefix logits differ from a full recompute by {diff}");
    }

    [TestMethod]
    public void OverflowingTheCacheIsAClearError()
    {
        using var model = LanguageModel.Load(ConvertedFixtures.Hf("llama"), new RuntimeOptions { MaxLength = 8 });
        using var decoder = model.CreateDecoder(1);
        var e = Assert.ThrowsExactly<ContextOverflowException>(() => decoder.Append(0, new int[9]));
        StringAssert.Contains(e.Message, "max length");
        decoder.Append(0, new int[8]);
        Assert.ThrowsExactly<ContextOverflowException>(() => decoder.Step([1], [true]));
    }
}
