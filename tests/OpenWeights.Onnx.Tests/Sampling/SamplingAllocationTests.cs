using OpenWeights.Onnx.Generation.Sampling;

namespace OpenWeights.Onnx.Tests.Sampling;

/// <summary>The steady state of sampling (Sample + Observe per token) allocates nothing on the managed heap.</summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class SamplingAllocationTests
{
    private const int Vocab = 32_000;

    public static IEnumerable<object[]> Configurations =>
    [
        ["greedy", SamplingOptions.Greedy, 0],
        ["greedy+logprobs", new SamplingOptions { RepetitionPenalty = 1.1f }, 5],
        ["top-k/top-p/min-p+penalties+logprobs", new SamplingOptions
        {
            Temperature = 0.8f, TopK = 40, TopP = 0.9f, MinP = 0.02f,
            RepetitionPenalty = 1.1f, PresencePenalty = 0.5f, FrequencyPenalty = 0.3f, Seed = 1,
        }, 5],
        ["top-p over the full vocabulary+penalties", new SamplingOptions
        {
            Temperature = 1.2f, TopP = 0.95f, RepetitionPenalty = 1.05f, FrequencyPenalty = 0.2f, Seed = 2,
        }, 0],
        ["plain temperature", new SamplingOptions { Temperature = 1f, Seed = 3 }, 0],
    ];

    [TestMethod]
    [DynamicData(nameof(Configurations))]
    public void SamplingAllocatesNothingPerToken(string name, SamplingOptions options, int topLogProbs)
    {
        var sources = Enumerable.Range(0, 4).Select(i => SamplingReference.RandomLogits(60 + i, Vocab, 2.5)).ToArray();
        var work = new float[Vocab];
        var top = new TokenLogProb[topLogProbs];
        var sampler = new TokenSampler(options, Vocab);
        sampler.ObservePrompt(Enumerable.Range(0, 500).Select(i => i * 61 % Vocab).ToArray());

        void Run(int steps)
        {
            for (int i = 0; i < steps; i++)
            {
                sources[i & 3].CopyTo(work, 0);
                int token = topLogProbs > 0 ? sampler.Sample(work, out _, top) : sampler.Sample(work);
                sampler.Observe(token);
            }
        }

        Run(100);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(1000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.AreEqual(0L, allocated, $"{name}: {allocated} bytes allocated over 1000 tokens");
    }
}
