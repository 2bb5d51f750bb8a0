namespace OpenWeights.Onnx.Server.Metrics;

/// <summary>A Prometheus histogram: cumulative counts over fixed upper bounds, plus sum and count. Thread-safe.</summary>
public sealed class Histogram(string name, string help, double[] upperBounds)
{
    private readonly long[] _counts = new long[upperBounds.Length + 1]; // the last one is +Inf
    private readonly Lock _lock = new();
    private double _sum;

    public string Name { get; } = name;
    public string Help { get; } = help;
    public IReadOnlyList<double> UpperBounds { get; } = upperBounds;

    public void Observe(double value)
    {
        int bucket = 0;
        while (bucket < upperBounds.Length && value > upperBounds[bucket])
            bucket++;
        lock (_lock)
        {
            _counts[bucket]++;
            _sum += value;
        }
    }

    /// <summary>A consistent copy: per-bucket (not cumulative) counts, with +Inf last, and the sum.</summary>
    public (long[] Counts, double Sum) Snapshot()
    {
        lock (_lock)
            return ((long[])_counts.Clone(), _sum);
    }
}
