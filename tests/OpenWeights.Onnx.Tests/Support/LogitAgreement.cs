namespace OpenWeights.Onnx.Tests.Support;

/// <summary>How far a model's next-token distributions are from a reference's, position by position.</summary>
public readonly record struct LogitAgreement(double MeanKl, double Top1, float MaxAbsDiff)
{
    /// <summary>Mean KL(reference ‖ candidate) over positions, top-1 agreement and max |Δlogit|; rows of <paramref name="vocab"/>.</summary>
    public static LogitAgreement Measure(ReadOnlySpan<float> candidate, ReadOnlySpan<float> reference, int vocab)
    {
        Assert.AreEqual(reference.Length, candidate.Length, "logit arrays differ in length");
        int positions = reference.Length / vocab;
        double kl = 0;
        int agree = 0;
        for (int t = 0; t < positions; t++)
        {
            var p = LogSoftmax(reference.Slice(t * vocab, vocab));
            var q = LogSoftmax(candidate.Slice(t * vocab, vocab));
            for (int i = 0; i < vocab; i++)
                kl += Math.Exp(p[i]) * (p[i] - q[i]);
            if (Logits.ArgMax(candidate.Slice(t * vocab, vocab)) == Logits.ArgMax(reference.Slice(t * vocab, vocab)))
                agree++;
        }
        return new(kl / positions, (double)agree / positions, Logits.MaxAbsDiff(candidate, reference));
    }

    public override string ToString() => $"mean KL {MeanKl:F5}, top-1 {Top1:P1}, max |Δlogit| {MaxAbsDiff:F3}";

    private static double[] LogSoftmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double sum = 0;
        foreach (var x in logits) sum += Math.Exp(x - max);
        double log = max + Math.Log(sum);
        var result = new double[logits.Length];
        for (int i = 0; i < logits.Length; i++) result[i] = logits[i] - log;
        return result;
    }
}
