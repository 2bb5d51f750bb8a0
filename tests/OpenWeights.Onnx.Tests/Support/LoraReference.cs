using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// The <c>lora/llama-lora</c> fixture's references (transformers' Llama with the adapter's term added by hooks),
/// checked through our runtime's decoder: prompt logits at every position, every decode step, the greedy ids and
/// the two-prompt batch.
/// </summary>
public static class LoraReference
{
    public const string Adapter = "llama-lora";
    public const string Base = "llama";
    public const float Tolerance = 1e-4f;

    public static string AdapterDirectory => TestFixtures.Lora(Adapter);

    private static int[] Ints(long[] values) => values.Select(v => (int)v).ToArray();

    /// <summary>Prompt logits, each decode step within 1e-4 and the greedy ids; returns the worst difference.</summary>
    public static float AssertSingleSequence(BatchDecoder decoder, int slot = 0)
    {
        using var reference = ReferenceTensors.For(AdapterDirectory);
        int vocab = decoder.VocabSize;
        var prompt = Ints(reference.Longs("input_ids"));
        var all = new float[prompt.Length * vocab];
        var logits = decoder.Append(slot, prompt, all).ToArray();
        float worst = Logits.MaxAbsDiff(all, reference.Floats("full_logits"));
        Assert.IsLessThanOrEqualTo(Tolerance, worst, $"prompt logits differ from the adapter's reference by {worst}");
        Assert.IsGreaterThan(0.5f, Logits.MaxAbsDiff(all, reference.Floats("base_full_logits")),
            "the logits equal the base model's: the adapter was not applied");

        var expected = reference.Floats("decode_step_logits");
        var ids = Ints(reference.Longs("generated_ids"));
        var tokens = new int[decoder.Slots];
        var active = new bool[decoder.Slots];
        active[slot] = true;
        for (int i = 0; i < ids.Length; i++)
        {
            float diff = Logits.MaxAbsDiff(logits, expected.AsSpan(i * vocab, vocab));
            worst = Math.Max(worst, diff);
            Assert.IsLessThanOrEqualTo(Tolerance, diff, $"decode step {i} differs by {diff}");
            tokens[slot] = Logits.ArgMax(logits);
            Assert.AreEqual(ids[i], tokens[slot], $"greedy id at step {i}");
            logits = decoder.Step(tokens, active).Slice(slot * vocab, vocab).ToArray();
        }
        return worst;
    }

    /// <summary>The fixture's two prompts of different lengths as one batch in slots 0 and 1: last logits and greedy ids.</summary>
    public static void AssertBatch(BatchDecoder decoder)
    {
        using var reference = ReferenceTensors.For(AdapterDirectory);
        ReferenceBatch.AssertGreedy(decoder, reference, Tolerance, "adapter batch");
    }
}
