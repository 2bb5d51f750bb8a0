using OpenWeights.Onnx.Generation.Sampling;

namespace OpenWeights.Onnx.Tests.Sampling;

[TestCategory(Category.Unit)]
[TestClass]
public sealed class SamplingPenaltyTests
{
    [TestMethod]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens()
    {
        var sampler = new TokenSampler(new SamplingOptions { RepetitionPenalty = 2f }, 6);
        sampler.ObservePrompt([0, 1, 2]);
        sampler.Observe(3);
        sampler.Observe(3);
        float[] logits = [3f, -1.5f, 0f, 0.5f, 4f, -2f];
        sampler.ApplyPenalties(logits);
        // Seen: 0 (3 → 1.5), 1 (-1.5 → -3), 2 (0 stays 0), 3 (0.5 → 0.25, once however often repeated). 4, 5 unseen.
        CollectionAssert.AreEqual(new[] { 1.5f, -3f, 0f, 0.25f, 4f, -2f }, logits);
    }

    [TestMethod]
    public void RepetitionPenaltyBelowOneFavoursSeenTokens()
    {
        var sampler = new TokenSampler(new SamplingOptions { RepetitionPenalty = 0.5f }, 3);
        sampler.ObservePrompt([0, 1]);
        float[] logits = [2f, -2f, 1f];
        sampler.ApplyPenalties(logits);
        CollectionAssert.AreEqual(new[] { 4f, -1f, 1f }, logits);
    }

    [TestMethod]
    public void PresenceAndFrequencyPenaltiesCountGeneratedTokensOnly()
    {
        var sampler = new TokenSampler(new SamplingOptions { PresencePenalty = 0.5f, FrequencyPenalty = 0.25f }, 5);
        sampler.ObservePrompt([0, 1, 1, 1]);
        foreach (int t in new[] { 2, 3, 2, 2, 1 })
            sampler.Observe(t);
        Assert.AreEqual(0, sampler.CountOf(0));
        Assert.AreEqual(1, sampler.CountOf(1));
        Assert.AreEqual(3, sampler.CountOf(2));
        Assert.AreEqual(1, sampler.CountOf(3));
        float[] logits = [1f, 1f, 1f, 1f, 1f];
        sampler.ApplyPenalties(logits);
        // logit -= presence * [count > 0] + frequency * count; prompt occurrences do not count.
        CollectionAssert.AreEqual(new[] { 1f, 1f - 0.75f, 1f - 1.25f, 1f - 0.75f, 1f }, logits);
    }

    [TestMethod]
    public void AllPenaltiesTogetherGiveTheHandComputedLogits()
    {
        var options = new SamplingOptions { RepetitionPenalty = 2f, PresencePenalty = 0.5f, FrequencyPenalty = 0.25f };
        var sampler = new TokenSampler(options, 6);
        sampler.ObservePrompt([0, 1]);
        sampler.Observe(2);
        sampler.Observe(2);
        sampler.Observe(3);
        float[] logits = [2f, -1f, 0.5f, -3f, 4f, 1f];
        sampler.ApplyPenalties(logits);
        // 0: 2/2 = 1.  1: -1*2 = -2.  2: 0.5/2 - (0.5 + 2*0.25) = -0.75.  3: -3*2 - (0.5 + 0.25) = -6.75.  4, 5 unseen.
        CollectionAssert.AreEqual(new[] { 1f, -2f, -0.75f, -6.75f, 4f, 1f }, logits);
    }

    [TestMethod]
    public void NegativePresenceAndFrequencyPenaltiesRaiseLogits()
    {
        var sampler = new TokenSampler(new SamplingOptions { PresencePenalty = -1f, FrequencyPenalty = -0.5f }, 2);
        sampler.Observe(1);
        sampler.Observe(1);
        float[] logits = [0f, 0f];
        sampler.ApplyPenalties(logits);
        CollectionAssert.AreEqual(new[] { 0f, 2f }, logits);
    }

    [TestMethod]
    public void SampleAppliesThePenaltiesBeforeChoosing()
    {
        var sampler = new TokenSampler(new SamplingOptions { FrequencyPenalty = 1f }, 4);
        float[] source = [0f, 3f, 2.5f, 1f];
        Assert.AreEqual(1, sampler.Sample(source.ToArray()));
        sampler.Observe(1);
        // 3 - 1 = 2 < 2.5.
        Assert.AreEqual(2, sampler.Sample(source.ToArray()));
        sampler.Observe(2);
        // 1: 2, 2: 1.5, 3: 1.
        Assert.AreEqual(1, sampler.Sample(source.ToArray()));
    }

    [TestMethod]
    public void ResetForgetsTheHistory()
    {
        var sampler = new TokenSampler(new SamplingOptions { RepetitionPenalty = 3f, FrequencyPenalty = 1f }, 4);
        sampler.ObservePrompt([0, 1]);
        sampler.Observe(2);
        Assert.AreEqual(2, sampler.PromptCount);
        Assert.AreEqual(1, sampler.GeneratedCount);
        sampler.Reset();
        Assert.AreEqual(0, sampler.PromptCount);
        Assert.AreEqual(0, sampler.GeneratedCount);
        Assert.AreEqual(0, sampler.CountOf(2));
        float[] logits = [1f, -1f, 2f, 3f];
        sampler.ApplyPenalties(logits);
        CollectionAssert.AreEqual(new[] { 1f, -1f, 2f, 3f }, logits);

        sampler.Observe(3);
        sampler.ApplyPenalties(logits);
        CollectionAssert.AreEqual(new[] { 1f, -1f, 2f, 0f }, logits);
    }

    [TestMethod]
    public void WithoutPenaltiesLogitsAreUntouchedAndNothingIsCounted()
    {
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 1f }, 3);
        sampler.ObservePrompt([0, 1]);
        sampler.Observe(1);
        Assert.AreEqual(1, sampler.GeneratedCount);
        Assert.AreEqual(0, sampler.CountOf(1));
        float[] logits = [1f, 2f, 3f];
        sampler.ApplyPenalties(logits);
        CollectionAssert.AreEqual(new[] { 1f, 2f, 3f }, logits);
    }

    [TestMethod]
    public void OutOfRangeTokensAreRejected()
    {
        var sampler = new TokenSampler(new SamplingOptions { RepetitionPenalty = 1.2f }, 3);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => sampler.Observe(3));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => sampler.Observe(-1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => sampler.ObservePrompt([0, 5]));
    }
}
