using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>
/// The converted folder must run outside owonnx: onnxruntime-genai loads it from genai_config.json alone
/// and its own greedy loop must produce the transformers reference ids.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class GenAiInteropTests
{
    public static IEnumerable<object[]> Fixtures => [["llama"], ["llama_bf16"], ["mistral"], ["qwen2"], ["phi3"], ["gemma"], ["gpt2"], ["mixtral"]];

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void GenAiGreedyGenerationGivesReferenceIds(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        GenAiGreedy.AssertSingle(ConvertedFixtures.Hf(fixture), reference, fixture);
    }

    /// <summary>
    /// The fixture's two prompts (7 and 11 tokens) as one right-padded batch: genai derives the mask from the
    /// pad id, and every row must continue as transformers did (positions, seqlens_k and learned positions
    /// all come from the mask).
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void GenAiRightPaddedBatchGivesReferenceIds(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        GenAiGreedy.AssertRightPaddedBatch(ConvertedFixtures.Hf(fixture), reference, fixture);
    }
}
