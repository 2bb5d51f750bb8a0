using OpenWeights.Onnx.Generation.Sampling;

namespace OpenWeights.Onnx.Tests.Sampling;

/// <summary>The partial-selection kernels against sorting, on continuous and heavily tied keys.</summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class SamplingSelectionTests
{
    private static float[] Keys(Random random, int n, bool tied) =>
        Enumerable.Range(0, n).Select(_ => tied ? random.Next(8) : (float)random.NextDouble()).ToArray();

    [TestMethod]
    public void SelectTopKeepsExactlyTheKLargestAndTheirTies()
    {
        var random = new Random(1);
        foreach (int n in new[] { 1, 2, 5, 17, 100, 5000 })
        foreach (bool tied in new[] { false, true })
        foreach (int k in new[] { 1, 2, 3, 10, 50, n - 1, n }.Where(k => k >= 1 && k <= n).Distinct())
        {
            var keys = Keys(random, n, tied);
            var indices = new int[n];
            Selection.FillIota(indices);
            int count = Selection.SelectTop(indices, keys, k);

            float kth = keys.OrderByDescending(x => x).ElementAt(k - 1);
            var expected = Enumerable.Range(0, n).Where(i => keys[i] >= kth).ToHashSet();
            Assert.AreEqual(expected.Count, count, $"n={n} k={k} tied={tied}");
            Assert.IsTrue(expected.SetEquals(indices.Take(count)), $"n={n} k={k} tied={tied}");
            CollectionAssert.AreEquivalent(Enumerable.Range(0, n).ToArray(), indices, "a permutation");
        }
    }

    [TestMethod]
    public void SelectNucleusTakesTheFewestLargestReachingTheMass()
    {
        var random = new Random(2);
        foreach (int n in new[] { 1, 3, 16, 17, 200, 32_000 })
        foreach (bool tied in new[] { false, true })
        foreach (double fraction in new[] { 0.01, 0.3, 0.5, 0.9, 0.999, 1.0 })
        {
            var probs = Keys(random, n, tied);
            double total = probs.Sum(p => (double)p);
            if (total == 0)
                continue;
            double mass = fraction * total;
            var indices = new int[n];
            Selection.FillIota(indices);
            int count = Selection.SelectNucleus(indices, probs, mass);

            var sorted = probs.OrderByDescending(x => x).ToArray();
            double acc = 0;
            int expected = 0;
            while (expected < n && acc < mass)
                acc += sorted[expected++];
            Assert.AreEqual(Math.Max(expected, 1), count, $"n={n} tied={tied} fraction={fraction}");
            CollectionAssert.AreEquivalent(sorted.Take(count).ToArray(), indices.Take(count).Select(i => probs[i]).ToArray(),
                $"n={n} tied={tied} fraction={fraction}");
            CollectionAssert.AreEquivalent(Enumerable.Range(0, n).ToArray(), indices, "a permutation");
        }
    }

    /// <summary>Log-probabilities (max 0) of several shapes: spread, tied, peaked, masked, and reaching far below -32.</summary>
    private static IEnumerable<(string Name, float[] LogProbs)> Distributions(int n)
    {
        var random = new Random(n);
        float[] Shift(float[] x)
        {
            float max = x.Max();
            return x.Select(v => v - max).ToArray();
        }
        yield return ("normal", Shift(SamplingReference.RandomLogits(n, n, 3)));
        yield return ("wide", Shift(SamplingReference.RandomLogits(n + 1, n, 30)));
        yield return ("tied", Shift(Enumerable.Range(0, n).Select(_ => (float)random.Next(6)).ToArray()));
        yield return ("equal", new float[n]);
        var peaked = SamplingReference.RandomLogits(n + 2, n, 1);
        peaked[n / 3] = 25f;
        yield return ("peaked", Shift(peaked));
        var masked = Shift(SamplingReference.RandomLogits(n + 3, n, 2));
        for (int i = 1; i < n; i += 3)
            masked[i] = float.NegativeInfinity;
        yield return ("masked", masked);
    }

    [TestMethod]
    public void SelectTopOfAllMatchesSorting()
    {
        foreach (int n in new[] { 1, 10, 1000, 32_000 })
        foreach (var (name, keys) in Distributions(n))
        foreach (int k in new[] { 1, 5, 40, 999, 5000, n }.Where(k => k <= n).Distinct())
        {
            var indices = new int[n];
            int count = Selection.SelectTopOfAll(indices, keys, k);
            float kth = keys.OrderByDescending(x => x).ElementAt(k - 1);
            var expected = Enumerable.Range(0, n).Where(i => keys[i] >= kth).ToHashSet();
            Assert.AreEqual(expected.Count, count, $"{name} n={n} k={k}");
            Assert.IsTrue(expected.SetEquals(indices.Take(count)), $"{name} n={n} k={k}");
        }
    }

    [TestMethod]
    public void SelectNucleusOfAllMatchesSorting()
    {
        var counts = new int[Selection.BucketCount];
        var masses = new double[Selection.BucketCount];
        foreach (int n in new[] { 1, 10, 1000, 32_000 })
        foreach (var (name, logProbs) in Distributions(n))
        foreach (double p in new[] { 0.05, 0.5, 0.9, 0.99 })
        {
            var probs = logProbs.Select(MathF.Exp).ToArray();
            var indices = new int[n];
            int count = Selection.SelectNucleusOfAll(indices, logProbs, probs, p, counts, masses);

            var sorted = probs.OrderByDescending(x => x).ToArray();
            double need = p * probs.Sum(x => (double)x);
            double acc = 0;
            int expected = 0;
            while (expected < n && acc < need)
                acc += sorted[expected++];
            // The histogram sums in another order than the sort: allow the boundary to move by rounding only.
            double before = sorted.Take(count - 1).Sum(x => (double)x);
            double taken = before + sorted[count - 1];
            Assert.IsTrue(count == expected || Math.Abs(taken - need) < 1e-9 * need || Math.Abs(before - need) < 1e-9 * need,
                $"{name} n={n} p={p}: {count} chosen, {expected} expected");
            CollectionAssert.AreEquivalent(sorted.Take(count).ToArray(), indices.Take(count).Select(i => probs[i]).ToArray(),
                $"{name} n={n} p={p}");
        }
    }

    [TestMethod]
    public void SortDescendingOrdersByKeyThenIndex()
    {
        var random = new Random(3);
        foreach (int n in new[] { 0, 1, 7, 32, 33, 500 })
        foreach (bool tied in new[] { false, true })
        {
            var keys = Keys(random, n, tied);
            var indices = Enumerable.Range(0, n).Reverse().ToArray();
            Selection.SortDescending(indices, keys);
            var expected = Enumerable.Range(0, n).OrderByDescending(i => keys[i]).ThenBy(i => i).ToArray();
            CollectionAssert.AreEqual(expected, indices, $"n={n} tied={tied}");
        }
    }

    [TestMethod]
    public void XoshiroMatchesTheReferenceStream()
    {
        // Outputs of the reference xoshiro256starstar.c from state {1, 2, 3, 4}.
        var rng = new Xoshiro256StarStar(1, 2, 3, 4);
        CollectionAssert.AreEqual(
            new ulong[] { 11520, 0, 1509978240, 1215971899390074240 },
            new[] { rng.NextUInt64(), rng.NextUInt64(), rng.NextUInt64(), rng.NextUInt64() });
    }

    [TestMethod]
    public void XoshiroDoublesAreUniform()
    {
        var rng = new Xoshiro256StarStar(77);
        var counts = new int[20];
        for (int i = 0; i < 100_000; i++)
        {
            double u = rng.NextDouble();
            Assert.IsTrue(u >= 0 && u < 1);
            counts[(int)(u * 20)]++;
        }
        double chi = SamplingReference.ChiSquare(counts, Enumerable.Repeat(1.0 / 20, 20).ToArray(), out int df);
        Assert.IsLessThan(SamplingReference.ChiSquareCritical999(df), chi);
    }
}
