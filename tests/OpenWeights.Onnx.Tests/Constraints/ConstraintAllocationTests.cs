using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Constraints;

/// <summary>
/// A constrained step allocates nothing of its own once the masks of the states it meets are cached: the bytes a
/// sequence allocates per token (its released text) are the same with and without the constraint.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ConstraintAllocationTests
{
    [TestMethod]
    public void CachedConstrainedStepsAllocateNoMoreThanFreeOnes()
    {
        var tokenizer = TextTokenizer.FromFolder(TestFixtures.FortuneLlama);
        int letter = tokenizer.Encode("a", addSpecialTokens: false).Single();
        int quote = tokenizer.Encode("\"", addSpecialTokens: false).Single();
        var logits = new float[tokenizer.VocabSize];

        long Measure(OutputConstraint? constraint)
        {
            var sequence = new SequenceGenerator(tokenizer.VocabSize, tokenizer.EosTokenIds, 512, null);
            // A string that never closes: "a" beats the closing quote, which beats the rest.
            sequence.Begin([1, 2], new GenerationOptions { MaxNewTokens = 300, StopAtEos = false, Constraint = constraint }, tokenizer, logProbs: false);
            void Step()
            {
                Array.Clear(logits);
                logits[letter] = 10f;
                logits[quote] = 5f;
                Assert.IsTrue(sequence.Advance(logits));
            }
            for (int i = 0; i < 20; i++)
                Step(); // warm-up: JIT, the constraint's masks
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 200; i++)
                Step();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        var constraint = OutputConstraint.JsonSchema("""{"type":"string"}""");
        long free = Measure(null);
        long constrained = Measure(constraint);
        Assert.AreEqual(free, constrained, $"free {free} bytes, constrained {constrained} bytes over 200 steps");
    }
}
