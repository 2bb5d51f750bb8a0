using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// A fixture's two-prompt batch (<c>batch_input_ids</c>, <c>batch_attention_mask</c>, <c>batch_last_logits</c>,
/// <c>batch_generated_ids</c>): transformers scored it left-padded, its convention; our runtime takes the same
/// prompts unpadded (right-padded inside the batch), so each row must still get exactly its reference.
/// </summary>
public static class ReferenceBatch
{
    /// <summary>The batch's prompts with their padding removed; the fixture's rows differ in length.</summary>
    public static List<int[]> Prompts(ReferenceTensors reference)
    {
        int width = (int)reference.Shape("batch_input_ids")[1];
        var ids = reference.Longs("batch_input_ids");
        var mask = reference.Longs("batch_attention_mask");
        var prompts = Enumerable.Range(0, (int)(ids.Length / width))
            .Select(r => Enumerable.Range(0, width).Where(t => mask[r * width + t] == 1).Select(t => (int)ids[r * width + t]).ToArray())
            .ToList();
        Assert.AreNotEqual(prompts[0].Length, prompts[1].Length, "the fixture's rows must differ in length");
        return prompts;
    }

    /// <summary>
    /// Prefills both prompts as one batch in slots 0 and 1, compares the last logits of each row within
    /// <paramref name="tolerance"/>, then decodes greedily and checks every row's ids at every step.
    /// </summary>
    public static void AssertGreedy(BatchDecoder decoder, ReferenceTensors reference, float tolerance, string label)
    {
        var prompts = Prompts(reference);
        int rows = prompts.Count, vocab = decoder.VocabSize;
        var expectedIds = reference.Longs("batch_generated_ids").Select(v => (int)v).ToArray();
        int steps = expectedIds.Length / rows;

        var logits = decoder.Prefill(prompts).ToArray();
        float diff = Logits.MaxAbsDiff(logits, reference.Floats("batch_last_logits"));
        Assert.IsLessThanOrEqualTo(tolerance, diff, $"{label}: batched prefill, each row's last logits differ by {diff}");
        var tokens = new int[decoder.Slots];
        var active = new bool[decoder.Slots];
        active.AsSpan(0, rows).Fill(true);
        for (int i = 0; i < steps; i++)
        {
            for (int r = 0; r < rows; r++)
            {
                tokens[r] = Logits.ArgMax(logits.AsSpan(r * vocab, vocab));
                Assert.AreEqual(expectedIds[r * steps + i], tokens[r], $"{label}: row {r} step {i}");
            }
            logits = decoder.Step(tokens, active).ToArray();
        }
    }
}
