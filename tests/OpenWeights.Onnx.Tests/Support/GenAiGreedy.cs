using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// onnxruntime-genai's own greedy loop over a converted folder, checked against a fixture's transformers ids: the
/// single prompt, and the two-prompt batch right-padded with the folder's pad id (genai derives the mask from it).
/// </summary>
public static class GenAiGreedy
{
    public static void AssertSingle(string folder, ReferenceTensors reference, string label) =>
        AssertContinuation(folder, reference.Longs("input_ids"), reference.Longs("generated_ids"), label);

    /// <summary>genai continues <paramref name="prompt"/> greedily with exactly <paramref name="expected"/>.</summary>
    public static void AssertContinuation(string folder, IReadOnlyList<long> prompt, IReadOnlyList<long> expected, string label)
    {
        using var model = new Model(folder);
        using var parameters = new GeneratorParams(model);
        parameters.SetSearchOption("max_length", prompt.Count + expected.Count);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(prompt.Select(v => (int)v).ToArray());
        while (!generator.IsDone())
            generator.GenerateNextToken();
        var produced = generator.GetSequence(0).ToArray()[prompt.Count..];
        CollectionAssert.AreEqual(expected.Select(v => (int)v).ToArray(), produced, $"{label}: genai ids [{string.Join(",", produced)}]");
    }

    public static void AssertRightPaddedBatch(string folder, ReferenceTensors reference, string label)
    {
        var prompts = ReferenceBatch.Prompts(reference);
        var expected = reference.Longs("batch_generated_ids").Select(v => (int)v).ToArray();
        int rows = prompts.Count, width = (int)reference.Shape("batch_input_ids")[1], steps = expected.Length / rows;
        int pad = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "genai_config.json")))!["model"]!["pad_token_id"]!.GetValue<int>();
        var batch = new int[rows * width];
        for (int row = 0; row < rows; row++)
        {
            Assert.IsFalse(prompts[row].Contains(pad), $"{label}: a prompt token equals the pad id {pad}");
            for (int i = 0; i < width; i++)
                batch[row * width + i] = i < prompts[row].Length ? prompts[row][i] : pad;
        }
        using var model = new Model(folder);
        using var parameters = new GeneratorParams(model);
        parameters.SetSearchOption("batch_size", rows);
        parameters.SetSearchOption("max_length", width + steps);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(batch);
        while (!generator.IsDone())
            generator.GenerateNextToken();
        for (int row = 0; row < rows; row++)
        {
            var produced = generator.GetSequence((ulong)row).ToArray()[width..];
            CollectionAssert.AreEqual(expected[(row * steps)..((row + 1) * steps)], produced,
                $"{label}: genai batch row {row} [{string.Join(",", produced)}]");
        }
    }
}
