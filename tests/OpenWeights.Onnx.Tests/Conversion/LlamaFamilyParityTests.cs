using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>
/// A converted FP32 graph, run by plain ONNX Runtime, against what transformers computed for each fixture:
/// the prompt's logits in one pass, every incremental decode step with the KV cache, and the greedy ids.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class LlamaFamilyParityTests
{
    private const float Fp32Tolerance = 1e-4f;

    public static IEnumerable<object[]> Fixtures => [["llama"], ["llama_bf16"], ["mistral"], ["qwen2"], ["phi3"], ["gemma"], ["gpt2"], ["mixtral"]];

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void PromptLogitsMatchTransformers(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var session = new OrtDecoderSession(ConvertedFixtures.Hf(fixture));
        var logits = session.Forward(reference.Longs("input_ids"));
        float diff = Logits.MaxAbsDiff(logits, reference.Floats("full_logits"));
        Console.WriteLine($"{fixture}: prompt max |Δlogit| = {diff:E2}");
        Assert.IsLessThanOrEqualTo(Fp32Tolerance, diff, $"{fixture}: prompt logits differ by {diff}");
    }

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void IncrementalDecodeMatchesTransformersAtEveryStep(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var session = new OrtDecoderSession(ConvertedFixtures.Hf(fixture));
        var expected = reference.Floats("decode_step_logits");
        var generated = reference.Longs("generated_ids");
        int vocab = session.Vocab;

        var prompt = session.Forward(reference.Longs("input_ids"));
        var step = prompt.AsSpan(prompt.Length - vocab).ToArray();
        float worst = 0;
        for (int i = 0; i < generated.Length; i++)
        {
            float diff = Logits.MaxAbsDiff(step, expected.AsSpan(i * vocab, vocab));
            worst = Math.Max(worst, diff);
            Assert.IsLessThanOrEqualTo(Fp32Tolerance, diff, $"{fixture}: decode step {i} differs by {diff}");
            Assert.AreEqual(generated[i], Logits.ArgMax(step), $"{fixture}: greedy id at step {i}");
            if (i + 1 < generated.Length)
                step = session.Forward([generated[i]]);
        }
        Console.WriteLine($"{fixture}: decode steps max |Δlogit| = {worst:E2}");
    }
}
