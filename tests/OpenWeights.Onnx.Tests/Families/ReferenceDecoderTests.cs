using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Families;

/// <summary>
/// The C# reference used where no transformers fixture exists (LongRoPE, Gemma 2) is itself checked against
/// transformers on the fixtures it can run: Phi-3 without scaling and Gemma (Gemma 2's code path minus its
/// extra norms, capping and window).
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ReferenceDecoderTests
{
    [TestMethod]
    [DataRow("phi3")]
    [DataRow("gemma")]
    public void ReferenceReproducesTransformersFixture(string fixture)
    {
        var checkpoint = TinyCheckpoint.Load(TestFixtures.Hf(fixture));
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        var ids = reference.Longs("input_ids").Concat(reference.Longs("generated_ids")).ToArray();
        var logits = fixture == "phi3" ? ReferenceDecoder.Phi3(checkpoint, ids) : ReferenceDecoder.Gemma2(checkpoint, ids);
        float diff = Logits.MaxAbsDiff(logits, reference.Floats("full_logits_prompt_plus_generated"));
        Console.WriteLine($"{fixture}: C# reference vs transformers max |Δlogit| = {diff:E2}");
        Assert.IsLessThanOrEqualTo(1e-4f, diff, $"{fixture}: the reference differs from transformers by {diff}");
    }
}
