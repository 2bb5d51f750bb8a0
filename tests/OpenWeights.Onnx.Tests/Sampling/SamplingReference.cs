namespace OpenWeights.Onnx.Tests.Sampling;

/// <summary>Straightforward double-precision reference computations for the sampler tests.</summary>
internal static class SamplingReference
{
    /// <summary>Normally distributed logits (Box–Muller over a seeded <see cref="Random"/>), times <paramref name="scale"/>.</summary>
    public static float[] RandomLogits(int seed, int vocab, double scale = 1.0)
    {
        var random = new Random(seed);
        var logits = new float[vocab];
        for (int i = 0; i < vocab; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            logits[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return logits;
    }

    public static double[] Softmax(ReadOnlySpan<float> logits, double temperature = 1.0)
    {
        double max = double.NegativeInfinity;
        foreach (float l in logits)
            max = Math.Max(max, l);
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++)
            sum += p[i] = Math.Exp((logits[i] - max) / temperature);
        for (int i = 0; i < p.Length; i++)
            p[i] /= sum;
        return p;
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best])
                best = i;
        return best;
    }

    /// <summary>Token ids by probability, most likely first (ties: lower id first).</summary>
    public static int[] ByProbability(double[] probs) =>
        Enumerable.Range(0, probs.Length).OrderByDescending(i => probs[i]).ThenBy(i => i).ToArray();

    /// <summary>
    /// transformers' warper chain on a probability vector: top-k, then top-p on the renormalised survivors (smallest
    /// most-likely prefix with mass ≥ p), then min-p; returns the renormalised distribution (0 for dropped tokens).
    /// </summary>
    public static double[] Truncate(double[] probs, int topK = 0, double topP = 1.0, double minP = 0.0)
    {
        var order = ByProbability(probs);
        int kept = topK > 0 ? Math.Min(topK, order.Length) : order.Length;
        if (topP < 1.0)
        {
            double mass = 0;
            for (int i = 0; i < kept; i++)
                mass += probs[order[i]];
            double acc = 0;
            int n = 0;
            while (n < kept)
            {
                acc += probs[order[n++]];
                if (acc >= topP * mass)
                    break;
            }
            kept = n;
        }
        var result = new double[probs.Length];
        double threshold = minP * probs[order[0]];
        double total = 0;
        for (int i = 0; i < kept; i++)
        {
            int t = order[i];
            if (probs[t] >= threshold)
                total += result[t] = probs[t];
        }
        for (int i = 0; i < result.Length; i++)
            result[i] /= total;
        return result;
    }

    /// <summary>Pearson's statistic over the bins with a non-zero expectation; fails if any draw lands in a zero bin.</summary>
    public static double ChiSquare(int[] counts, double[] expectedProbs, out int degreesOfFreedom)
    {
        long n = counts.Sum(c => (long)c);
        double chi = 0;
        int bins = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            if (expectedProbs[i] == 0)
            {
                Assert.AreEqual(0, counts[i], $"token {i} has probability 0 but was drawn {counts[i]} times");
                continue;
            }
            double expected = n * expectedProbs[i];
            chi += (counts[i] - expected) * (counts[i] - expected) / expected;
            bins++;
        }
        degreesOfFreedom = bins - 1;
        return chi;
    }

    /// <summary>Upper 0.1% point of chi-square with <paramref name="df"/> degrees of freedom (Wilson–Hilferty).</summary>
    public static double ChiSquareCritical999(int df)
    {
        const double z = 3.0902;
        double a = 2.0 / (9.0 * df);
        return df * Math.Pow(1 - a + z * Math.Sqrt(a), 3);
    }
}
