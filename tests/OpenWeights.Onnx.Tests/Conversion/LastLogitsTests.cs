using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Evaluation;
using OpenWeights.Onnx.Tokenization;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>
/// <c>--logits last</c>: the graph returns only each row's last real position, [batch, 1, vocab]. Those rows
/// must equal transformers' last-position logits — alone, continuing a cache, and in a right-padded batch whose
/// rows end at different positions — and onnxruntime-genai must run the folder (it recognises such a graph by
/// the static 1). Whatever needs every position refuses the model with a clear message.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class LastLogitsTests
{
    private const float Tolerance = 1e-4f;
    private static readonly ConversionOptions Last = new() { Logits = LogitsScope.Last };

    // llama: rotary; gpt2: learned positions (their index also comes from the mask); phi3: fused projections.
    public static IEnumerable<object[]> Fixtures => [["llama"], ["gpt2"], ["phi3"]];

    private static int[] Ints(long[] values) => values.Select(v => (int)v).ToArray();

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void GraphDeclaresOnePositionAndRuntimeReadsIt(string fixture)
    {
        using var model = LanguageModel.Load(ConvertedFixtures.Hf(fixture, Last));
        var dims = model.Session.OutputMetadata[DecoderIo.Logits].Dimensions;
        CollectionAssert.AreEqual(new[] { -1, 1, model.Config.VocabSize }, dims);
        Assert.AreEqual(LogitsScope.Last, model.Config.Io.LogitsScope);
        Assert.AreEqual("last", model.Session.ModelMetadata.CustomMetadataMap[DecoderIo.LogitsMetadataKey]);

        using var all = LanguageModel.Load(ConvertedFixtures.Hf(fixture));
        Assert.AreEqual(LogitsScope.All, all.Config.Io.LogitsScope);
    }

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void PromptCacheAndDecodeStepsMatchReference(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var model = LanguageModel.Load(ConvertedFixtures.Hf(fixture, Last));
        using var decoder = model.CreateDecoder(1);
        int vocab = decoder.VocabSize;
        var prompt = Ints(reference.Longs("input_ids"));
        var generated = Ints(reference.Longs("generated_ids"));
        var full = reference.Floats("full_logits_prompt_plus_generated"); // one pass, no cache

        var logits = decoder.Append(0, prompt).ToArray();
        AssertRow(full, prompt.Length - 1, logits, vocab, $"{fixture}: prompt");
        // A multi-token chunk continuing the cache: its last new token, not its first, gives the logits.
        logits = decoder.Append(0, generated[..3]).ToArray();
        AssertRow(full, prompt.Length + 2, logits, vocab, $"{fixture}: 3-token chunk after the prompt");
        for (int i = 3; i < 6; i++)
        {
            logits = decoder.Step([generated[i]], [true]).ToArray();
            AssertRow(full, prompt.Length + i, logits, vocab, $"{fixture}: decode step {i}");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void RightPaddedBatchGivesEachRowItsLastPosition(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var model = LanguageModel.Load(ConvertedFixtures.Hf(fixture, Last));
        using var decoder = model.CreateDecoder(2);
        ReferenceBatch.AssertGreedy(decoder, reference, Tolerance, $"{fixture} (right-padded, last-position logits)");
    }

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void GenAiRunsTheFolderSingleAndBatched(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        string folder = ConvertedFixtures.Hf(fixture, Last);
        GenAiGreedy.AssertSingle(folder, reference, $"{fixture} (last-position logits)");
        GenAiGreedy.AssertRightPaddedBatch(folder, reference, $"{fixture} (last-position logits)");
    }

    [TestMethod]
    public void EvalAndFullScoringRefuseALastModel()
    {
        string folder = ConvertedFixtures.Get(TestFixtures.FortuneLlama, Last);
        using var model = LanguageModel.Load(folder);
        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            PerplexityEvaluator.Run(model, TextTokenizer.FromFolder(folder), "some text to score", 2));
        StringAssert.Contains(e.Message, "--logits last");
        StringAssert.Contains(e.Message, "--logits all");

        using var decoder = model.CreateDecoder(1);
        var scores = new float[2 * decoder.VocabSize];
        var refused = Assert.ThrowsExactly<InvalidOperationException>(() => decoder.Append(0, [5, 6], scores));
        StringAssert.Contains(refused.Message, "--logits all");
    }

    private static void AssertRow(float[] full, int position, float[] actual, int vocab, string what)
    {
        float diff = Logits.MaxAbsDiff(actual, full.AsSpan(position * vocab, vocab));
        Assert.IsLessThanOrEqualTo(Tolerance, diff, $"{what}: logits differ from transformers' position {position} by {diff}");
    }
}
