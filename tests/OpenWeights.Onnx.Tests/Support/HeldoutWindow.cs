namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// The sample model's first held-out window (reference.safetensors): 256 token ids and the logits transformers
/// computed at every position — a long prompt with a reference at each of its prefixes.
/// </summary>
public sealed class HeldoutWindow
{
    private readonly float[] _logits;

    private HeldoutWindow(int[] ids, float[] logits, int vocab)
    {
        Ids = ids;
        _logits = logits;
        Vocab = vocab;
    }

    public int[] Ids { get; }
    public int Vocab { get; }

    public static HeldoutWindow Load()
    {
        using var reference = ReferenceTensors.For(TestFixtures.FortuneLlamaReferences);
        var ids = reference.Longs("heldout_window0_input_ids").Select(v => (int)v).ToArray();
        var logits = reference.Floats("heldout_window0_logits");
        return new HeldoutWindow(ids, logits, logits.Length / ids.Length);
    }

    /// <summary>The reference logits after reading the first <paramref name="length"/> ids (those of position length − 1).</summary>
    public ReadOnlySpan<float> LogitsAfter(int length) => _logits.AsSpan((length - 1) * Vocab, Vocab);

    /// <summary>The reference log-probabilities after reading the first <paramref name="length"/> ids.</summary>
    public double[] LogProbsAfter(int length)
    {
        var row = LogitsAfter(length);
        float max = float.NegativeInfinity;
        foreach (float x in row) max = Math.Max(max, x);
        double sum = 0;
        foreach (float x in row) sum += Math.Exp(x - max);
        double logSum = max + Math.Log(sum);
        var result = new double[row.Length];
        for (int i = 0; i < row.Length; i++)
            result[i] = row[i] - logSum;
        return result;
    }

    /// <summary>The first <paramref name="length"/> ids.</summary>
    public int[] Prefix(int length) => Ids[..length];
}
