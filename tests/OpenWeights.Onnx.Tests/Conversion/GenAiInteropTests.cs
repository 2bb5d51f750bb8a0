using Microsoft.ML.OnnxRuntimeGenAI;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>
/// The converted folder must run outside owonnx: onnxruntime-genai loads it from genai_config.json alone
/// and its own greedy loop must produce the transformers reference ids.
/// </summary>
[TestClass]
public sealed class GenAiInteropTests
{
    public static IEnumerable<object[]> Fixtures => [["llama"], ["llama_bf16"], ["mistral"], ["qwen2"], ["phi3"], ["gemma"], ["gpt2"]];

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void GenAiGreedyGenerationGivesReferenceIds(string fixture)
    {
        using var reference = ReferenceTensors.For(SharedFixtures.Hf(fixture));
        var prompt = reference.Longs("input_ids").Select(x => (int)x).ToArray();
        var expected = reference.Longs("generated_ids").Select(x => (int)x).ToArray();

        using var model = new Model(ConvertedFixtures.Hf(fixture));
        using var parameters = new GeneratorParams(model);
        parameters.SetSearchOption("max_length", prompt.Length + expected.Length);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(prompt);
        while (!generator.IsDone())
            generator.GenerateNextToken();

        var produced = generator.GetSequence(0).ToArray()[prompt.Length..];
        CollectionAssert.AreEqual(expected, produced, $"{fixture}: genai ids [{string.Join(",", produced)}]");
    }
}
