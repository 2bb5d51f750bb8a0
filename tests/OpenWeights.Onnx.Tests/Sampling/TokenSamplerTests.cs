using OpenWeights.Onnx.Generation.Sampling;
using static OpenWeights.Onnx.Tests.Sampling.SamplingReference;

namespace OpenWeights.Onnx.Tests.Sampling;

[TestCategory(Category.Unit)]
[TestClass]
public sealed class TokenSamplerTests
{
    private static int[] Draw(TokenSampler sampler, float[] logits, int draws)
    {
        var counts = new int[logits.Length];
        var work = new float[logits.Length];
        for (int i = 0; i < draws; i++)
        {
            logits.CopyTo(work, 0);
            counts[sampler.Sample(work)]++;
        }
        return counts;
    }

    [TestMethod]
    public void GreedyIsTheArgmax()
    {
        var sampler = new TokenSampler(SamplingOptions.Greedy, 32_000);
        for (int seed = 0; seed < 20; seed++)
        {
            var logits = RandomLogits(seed, 32_000, 3);
            int expected = ArgMax(logits);
            Assert.AreEqual(expected, sampler.Sample(logits.ToArray()), $"logits #{seed}");
            Assert.AreEqual(expected, sampler.Sample(logits.ToArray(), out float logProb), $"logits #{seed}, with logprob");
            Assert.AreEqual(Math.Log(Softmax(logits)[expected]), logProb, 1e-4);
        }
    }

    [TestMethod]
    public void GreedyTiesGoToTheLowestIndex()
    {
        var sampler = new TokenSampler(SamplingOptions.Greedy, 1000);
        var logits = new float[1000];
        Array.Fill(logits, -1f);
        foreach (int i in new[] { 999, 500, 37, 38, 64 })
            logits[i] = 5f;
        Assert.AreEqual(37, sampler.Sample(logits.ToArray()));

        Array.Fill(logits, 0.25f);
        Assert.AreEqual(0, sampler.Sample(logits.ToArray()));

        // +0 and -0 are the same logit.
        Array.Fill(logits, -1f);
        logits[3] = -0f;
        logits[10] = 0f;
        Assert.AreEqual(3, sampler.Sample(logits.ToArray()));
    }

    [TestMethod]
    public void TinyTemperatureBehavesLikeGreedy()
    {
        var logits = RandomLogits(3, 5000, 2);
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 1e-6f, Seed = 1 }, logits.Length);
        var counts = Draw(sampler, logits, 200);
        Assert.AreEqual(200, counts[ArgMax(logits)]);
    }

    [TestMethod]
    public void SameSeedSameTokensAndDifferentSeedsDiffer()
    {
        const int vocab = 1000, steps = 300;
        var steps_logits = Enumerable.Range(0, steps).Select(i => RandomLogits(100 + i, vocab, 1.5)).ToArray();
        var options = new SamplingOptions { Temperature = 1f, TopK = 200, TopP = 0.95f, RepetitionPenalty = 1.1f, Seed = 1234 };

        int[] Run(TokenSampler sampler)
        {
            var tokens = new int[steps];
            for (int i = 0; i < steps; i++)
            {
                tokens[i] = sampler.Sample(steps_logits[i].ToArray());
                sampler.Observe(tokens[i]);
            }
            return tokens;
        }

        var first = new TokenSampler(options, vocab);
        var a = Run(first);
        var b = Run(new TokenSampler(options, vocab));
        CollectionAssert.AreEqual(a, b);
        Assert.AreEqual(1234, first.Seed);

        first.Reset();
        CollectionAssert.AreEqual(a, Run(first), "a reset sampler repeats its seeded stream");

        var c = Run(new TokenSampler(options with { Seed = 1235 }, vocab));
        int differing = a.Zip(c).Count(p => p.First != p.Second);
        Assert.IsGreaterThan(steps / 2, differing, $"only {differing} of {steps} tokens differ between seeds");

        // Unseeded samplers draw their own seeds.
        var unseeded = options with { Seed = null };
        Assert.AreNotEqual(new TokenSampler(unseeded, vocab).Seed, new TokenSampler(unseeded, vocab).Seed);
    }

    [TestMethod]
    public void FrequenciesMatchSoftmaxOfLogitsOverTemperature()
    {
        float[] logits = [1.0f, 0.5f, 2.0f, -1.0f, 0.0f, 1.5f, -0.5f, 0.25f];
        foreach (float temperature in new[] { 0.7f, 1f, 1.8f })
        {
            var sampler = new TokenSampler(new SamplingOptions { Temperature = temperature, Seed = 42 }, logits.Length);
            var counts = Draw(sampler, logits, 20_000);
            double chi = ChiSquare(counts, Softmax(logits, temperature), out int df);
            Assert.IsLessThan(ChiSquareCritical999(df), chi, $"T={temperature}: chi-square {chi} over {df} df");
        }
    }

    [TestMethod]
    public void FrequenciesOverALargeVocabularyMatchSoftmax()
    {
        // 3000 tokens span several of the sampler's summation chunks; compare the mass of 30 bins of 100 tokens.
        var logits = RandomLogits(9, 3000, 1.0);
        var probs = Softmax(logits, 0.9);
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 0.9f, Seed = 5 }, logits.Length);
        var counts = Draw(sampler, logits, 20_000);
        var binCounts = new int[30];
        var binProbs = new double[30];
        for (int t = 0; t < logits.Length; t++)
        {
            binCounts[t / 100] += counts[t];
            binProbs[t / 100] += probs[t];
        }
        double chi = ChiSquare(binCounts, binProbs, out int df);
        Assert.IsLessThan(ChiSquareCritical999(df), chi, $"chi-square {chi} over {df} df");
    }

    [TestMethod]
    public void TopKNeverLeavesTheTopK()
    {
        var logits = RandomLogits(11, 1000, 2);
        var top = ByProbability(Softmax(logits)).Take(10).ToHashSet();
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 1.5f, TopK = 10, Seed = 3 }, logits.Length);
        var counts = Draw(sampler, logits, 20_000);
        for (int t = 0; t < counts.Length; t++)
            if (!top.Contains(t))
                Assert.AreEqual(0, counts[t], $"token {t} is outside the top 10");
        double chi = ChiSquare(counts, Truncate(Softmax(logits, 1.5), topK: 10), out int df);
        Assert.AreEqual(9, df);
        Assert.IsLessThan(ChiSquareCritical999(df), chi, $"chi-square {chi} over {df} df");
    }

    [TestMethod]
    public void TopPNeverLeavesTheSmallestNucleus()
    {
        foreach (var (vocab, p, firstSeed) in new[] { (200, 0.7f, 21), (32_000, 0.9f, 22), (32_000, 0.3f, 23) })
        {
            // Take the first logits whose nucleus boundary is clear of float-vs-double rounding (by 1e-4 of mass).
            float[] logits;
            double[] probs;
            int[] order;
            double acc;
            int size;
            int seed = firstSeed;
            while (true)
            {
                logits = RandomLogits(seed, vocab, 3);
                probs = Softmax(logits);
                order = ByProbability(probs);
                acc = 0;
                size = 0;
                while (acc < p)
                    acc += probs[order[size++]];
                if (acc - p > 1e-4 && p - (acc - probs[order[size - 1]]) > 1e-4)
                    break;
                seed += 100;
            }
            var nucleus = order.Take(size).ToHashSet();

            var sampler = new TokenSampler(new SamplingOptions { Temperature = 1f, TopP = p, Seed = seed }, vocab);
            int draws = vocab <= 1000 ? 5000 : 1500;
            var counts = Draw(sampler, logits, draws);
            for (int t = 0; t < vocab; t++)
                if (!nucleus.Contains(t))
                    Assert.AreEqual(0, counts[t], $"vocab {vocab}, p {p}: token {t} is outside the nucleus of {size}");
            // Nothing likely inside the nucleus is cut off.
            foreach (int t in nucleus.Where(t => probs[t] / acc * draws >= 30))
                Assert.IsGreaterThan(0, counts[t], $"vocab {vocab}, p {p}: token {t} (p={probs[t]}) never drawn");
        }
    }

    [TestMethod]
    public void MinPNeverPicksTokensBelowTheThreshold()
    {
        var logits = RandomLogits(31, 500, 1.5);
        var probs = Softmax(logits);
        double threshold = 0.05 * probs.Max();
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 1f, MinP = 0.05f, Seed = 8 }, logits.Length);
        var counts = Draw(sampler, logits, 20_000);
        for (int t = 0; t < counts.Length; t++)
            if (probs[t] < threshold)
                Assert.AreEqual(0, counts[t], $"token {t}: p={probs[t]} < {threshold}");
        double chi = ChiSquare(counts, Truncate(probs, minP: 0.05), out int df);
        Assert.IsLessThan(ChiSquareCritical999(df), chi, $"chi-square {chi} over {df} df");
    }

    [TestMethod]
    public void CombinedTruncationMatchesTheTransformersChain()
    {
        float[] logits = [2.0f, 1.7f, 1.5f, 1.4f, 1.0f, 0.9f, 0.8f, 0.5f, 0.4f, 0.1f, 0.0f, -0.2f, -0.5f, -1f, -2f, -3f];
        const float temperature = 0.8f;
        var options = new SamplingOptions { Temperature = temperature, TopK = 10, TopP = 0.8f, MinP = 0.2f, Seed = 99 };
        var expected = Truncate(Softmax(logits, temperature), options.TopK, options.TopP, options.MinP);
        var sampler = new TokenSampler(options, logits.Length);
        var counts = Draw(sampler, logits, 20_000);
        double chi = ChiSquare(counts, expected, out int df);
        Assert.IsGreaterThanOrEqualTo(3, df, "the chain should leave several tokens");
        Assert.IsLessThan(ChiSquareCritical999(df), chi, $"chi-square {chi} over {df} df");
    }

    [TestMethod]
    public void MaskedTokensAreNeverDrawn()
    {
        var logits = RandomLogits(41, 2000, 1);
        for (int t = 0; t < logits.Length; t += 2)
            logits[t] = float.NegativeInfinity;
        foreach (var options in new[]
                 {
                     new SamplingOptions { Temperature = 1f, Seed = 1 },
                     new SamplingOptions { Temperature = 2f, TopK = 1500, Seed = 2 },
                     new SamplingOptions { Temperature = 3f, TopP = 0.999f, Seed = 3 },
                 })
        {
            var counts = Draw(new TokenSampler(options, logits.Length), logits, 5000);
            for (int t = 0; t < logits.Length; t += 2)
                Assert.AreEqual(0, counts[t], $"{options}: masked token {t} drawn");
        }
    }

    [TestMethod]
    public void LogProbsAreTheLogSoftmaxOfTheProcessedLogits()
    {
        var logits = RandomLogits(51, 1000, 2);
        var options = new SamplingOptions { Temperature = 0.7f, TopK = 50, FrequencyPenalty = 1f, Seed = 4 };
        var sampler = new TokenSampler(options, logits.Length);
        sampler.Observe(ArgMax(logits));

        var processed = logits.ToArray();
        sampler.ApplyPenalties(processed);
        var expected = Softmax(processed, options.Temperature);
        var expectedTop = ByProbability(expected).Take(5).ToArray();

        var top = new TokenLogProb[5];
        int token = sampler.Sample(logits.ToArray(), out float logProb, top);
        Assert.AreEqual(Math.Log(expected[token]), logProb, 1e-4);
        for (int i = 0; i < top.Length; i++)
        {
            Assert.AreEqual(expectedTop[i], top[i].TokenId, $"top {i}");
            Assert.AreEqual(Math.Log(expected[expectedTop[i]]), top[i].LogProb, 1e-4, $"top {i}");
        }

        // Greedy: temperature 1.
        var greedy = new TokenSampler(SamplingOptions.Greedy, logits.Length);
        token = greedy.Sample(logits.ToArray(), out logProb, top);
        Assert.AreEqual(top[0].TokenId, token);
        Assert.AreEqual(top[0].LogProb, logProb);
        var plain = Softmax(logits);
        Assert.AreEqual(Math.Log(plain[token]), logProb, 1e-4);
        Assert.AreEqual(ByProbability(plain)[4], top[4].TokenId);
    }

    [TestMethod]
    public void TopLogProbsBreakTiesByLowerId()
    {
        float[] logits = [0f, 1f, 1f, 0f, 1f, 2f];
        var top = new TokenLogProb[4];
        new TokenSampler(SamplingOptions.Greedy, logits.Length).Sample(logits, out _, top);
        CollectionAssert.AreEqual(new[] { 5, 1, 2, 4 }, top.Select(t => t.TokenId).ToArray());
        Assert.AreEqual(top[1].LogProb, top[3].LogProb);
    }

    [TestMethod]
    public void BadLogitsAreRejected()
    {
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 1f }, 4);
        Assert.ThrowsExactly<ArgumentException>(() => sampler.Sample(new float[5]));
        Assert.ThrowsExactly<ArgumentException>(() => sampler.Sample(new[] { 0f, float.NaN, 1f, 2f }));
        Assert.ThrowsExactly<ArgumentException>(() => sampler.Sample(new[] { 0f, float.PositiveInfinity, 1f, 2f }));
        Assert.ThrowsExactly<ArgumentException>(() => sampler.Sample(Enumerable.Repeat(float.NegativeInfinity, 4).ToArray()));
        Assert.ThrowsExactly<ArgumentException>(() => sampler.Sample(new float[4], out _, new TokenLogProb[5]));
        var greedy = new TokenSampler(SamplingOptions.Greedy, 4);
        Assert.ThrowsExactly<ArgumentException>(() => greedy.Sample(new[] { 0f, float.NaN, 1f, 2f }));
    }
}
