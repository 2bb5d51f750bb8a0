using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Generation;

/// <summary>
/// The decode loop (ORT step through the fixed I/O binding, penalties, sampling, bookkeeping) allocates
/// nothing per token once started. Measured on the thread that runs it, after a warm-up.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class SteadyStateAllocationTests
{
    public static IEnumerable<object[]> Samplings =>
    [
        [SamplingOptions.Greedy],
        [new SamplingOptions { Temperature = 0.8f, TopK = 40, TopP = 0.9f, MinP = 0.02f, RepetitionPenalty = 1.1f,
            PresencePenalty = 0.2f, FrequencyPenalty = 0.1f, Seed = 7 }],
    ];

    [TestMethod]
    [DynamicData(nameof(Samplings))]
    public void DecodeStepsAllocateNothingPerToken(SamplingOptions sampling)
    {
        using var model = LanguageModel.Load(FortuneReference.ConvertedFp32);
        using var decoder = model.CreateDecoder(1);
        var stream = new TokenStream(decoder, []);
        var options = new GenerationOptions { MaxNewTokens = 200, Sampling = sampling, StopAtEos = false };
        int[] prompt = [0, 68, 1340, 305, 467, 1221];

        stream.Start(prompt, options);
        for (int i = 0; i < 20; i++) Assert.IsTrue(stream.MoveNext());   // warm-up: JIT, ORT arena growth

        long before = GC.GetAllocatedBytesForCurrentThread();
        int steps = 0;
        while (stream.MoveNext()) steps++;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.AreEqual(180, steps);
        Console.WriteLine($"{allocated} bytes over {steps} decode steps");
        Assert.AreEqual(0L, allocated, $"{allocated} bytes over {steps} decode steps");
    }
}
