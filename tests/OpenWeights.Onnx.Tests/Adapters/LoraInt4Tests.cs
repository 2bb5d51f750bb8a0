using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Adapters;

/// <summary>
/// A run-time adapter over an INT4 base (QLoRA-style: W quantized, the adapter's product in float32), judged against
/// the adapter merged into an FP32 model. The yardstick is the INT4 base's own error against the FP32 base on the
/// same tokens: the adapter's term is exact, so it may not add error beyond what quantizing W already costs.
/// </summary>
[TestClass]
[TestCategory(Category.Parity)]
public sealed class LoraInt4Tests
{
    [TestMethod]
    public void AdapterOnInt4BaseStaysWithinTheBaseQuantizationError()
    {
        string int4 = LoraRuntimeTests.BaseWithInputs(Precision.Int4);
        var adapter = AdapterFile.Load(LoraRuntimeTests.AdapterFileFor(int4));
        using var reference = ReferenceTensors.For(LoraReference.AdapterDirectory);
        // The prompt and the reference continuation: 19 positions, each scored.
        var tokens = reference.Longs("input_ids").Concat(reference.Longs("generated_ids")).Select(x => (int)x).ToArray();

        var adapted = Score(int4, tokens, adapter);
        var merged = Score(LoraMergeTests.MergedFp32Folder, tokens, null);
        var int4Base = Score(int4, tokens, null);
        var fp32Base = Score(LoraRuntimeTests.BaseWithInputs(Precision.Fp32), tokens, null);

        var (kl, top1, _) = LogitAgreement.Measure(adapted, merged, reference.Floats("full_logits_prompt_plus_generated").Length / tokens.Length);
        var (baseKl, baseTop1, _) = LogitAgreement.Measure(int4Base, fp32Base, adapted.Length / tokens.Length);
        Console.WriteLine($"INT4 base + run-time adapter vs merged FP32: mean KL {kl:F5}, top-1 {top1:P1}; " +
                          $"INT4 base vs FP32 base: mean KL {baseKl:F5}, top-1 {baseTop1:P1}");
        Assert.IsLessThanOrEqualTo(1.5 * baseKl + 1e-4, kl, $"adapter on INT4: KL {kl} vs the base's own {baseKl}");
        Assert.IsGreaterThanOrEqualTo(baseTop1 - 0.1, top1, $"adapter on INT4: top-1 {top1} vs the base's own {baseTop1}");
        // And the adapter is really there: without it the INT4 model is far from the merged one.
        var (withoutKl, _, _) = LogitAgreement.Measure(int4Base, merged, adapted.Length / tokens.Length);
        Console.WriteLine($"INT4 base without the adapter vs merged FP32: mean KL {withoutKl:F5}");
        Assert.IsGreaterThan(3 * kl, withoutKl, $"without the adapter KL is {withoutKl}, with it {kl}");
    }

    private static float[] Score(string folder, int[] tokens, AdapterFile? adapter)
    {
        using var model = LanguageModel.Load(folder);
        using var decoder = model.CreateDecoder(1, adapter?.Rank ?? 0);
        if (adapter is not null)
            decoder.Adapters!.Assign(0, adapter);
        var all = new float[tokens.Length * decoder.VocabSize];
        decoder.Append(0, tokens, all);
        return all;
    }
}
