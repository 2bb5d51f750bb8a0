using Microsoft.ML.OnnxRuntimeGenAI;
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
        var ids = reference.Longs("batch_input_ids");
        var mask = reference.Longs("batch_attention_mask");
        var expected = reference.Longs("batch_generated_ids").Select(x => (int)x).ToArray();
        int width = ids.Length / 2, steps = expected.Length / 2;

        string folder = ConvertedFixtures.Hf(fixture);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "genai_config.json")))!;
        int pad = config["model"]!["pad_token_id"]!.GetValue<int>();
        var batch = new int[ids.Length];
        for (int row = 0; row < 2; row++)
        {
            var real = Enumerable.Range(0, width).Where(i => mask[row * width + i] == 1).Select(i => (int)ids[row * width + i]).ToArray();
            Assert.IsFalse(real.Contains(pad), $"{fixture}: a prompt token equals the pad id {pad}");
            for (int i = 0; i < width; i++)
                batch[row * width + i] = i < real.Length ? real[i] : pad;
        }

        using var model = new Model(folder);
        using var parameters = new GeneratorParams(model);
        parameters.SetSearchOption("batch_size", 2);
        parameters.SetSearchOption("max_length", width + steps);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(batch);
        while (!generator.IsDone())
            generator.GenerateNextToken();
        for (int row = 0; row < 2; row++)
        {
            var produced = generator.GetSequence((ulong)row).ToArray()[width..];
            CollectionAssert.AreEqual(expected[(row * steps)..((row + 1) * steps)], produced,
                $"{fixture}: row {row} genai ids [{string.Join(",", produced)}]");
        }
    }
}
