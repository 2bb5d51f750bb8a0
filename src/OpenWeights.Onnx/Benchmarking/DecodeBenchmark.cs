using System.Diagnostics;

namespace OpenWeights.Onnx.Benchmarking;

public sealed record BenchmarkSettings(int PromptTokens = 128, int GenTokens = 64, int Batch = 1, int Repeat = 5, int Seed = 1234)
{
    public void Validate()
    {
        if (PromptTokens < 1) throw new ArgumentException($"prompt tokens {PromptTokens} must be at least 1.");
        if (GenTokens < 2) throw new ArgumentException($"gen tokens {GenTokens} must be at least 2.");
        if (Batch < 1) throw new ArgumentException($"batch {Batch} must be at least 1.");
        if (Repeat < 1) throw new ArgumentException($"repeat {Repeat} must be at least 1.");
    }
}

/// <summary>Median and range of one measurement over the repeats.</summary>
public sealed record Statistic(double Median, double Min, double Max)
{
    public static Statistic Of(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        double median = sorted.Length % 2 == 1
            ? sorted[sorted.Length / 2]
            : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return new Statistic(median, sorted[0], sorted[^1]);
    }
}

public sealed record BenchmarkReport(
    string Model,
    BenchmarkSettings Settings,
    Statistic PrefillTokensPerSecond,
    Statistic DecodeTokensPerSecond,
    Statistic TimeToFirstTokenMs,
    Statistic LoopOverheadPercent,
    long PeakResidentBytes,
    long AnonymousResidentBytes,
    DecodeBound Bound,
    MemoryFootprint Footprint,
    ConstraintCost? Constraint = null);

/// <summary>
/// How close decode comes to the memory-bandwidth bound: each step reads <see cref="WeightBytesPerToken"/>
/// (<see cref="WeightTraffic"/>); the machine streams <see cref="ReadBandwidthBytesPerSecond"/>
/// (<see cref="MemoryBandwidth"/>, measured between the repeats of the same run, on <see cref="Threads"/> threads;
/// the bound uses its fastest pass).
/// <see cref="Fraction"/> = decode steps/s × bytes per step ÷ bandwidth (1 = as fast as reading the weights allows).
/// <see cref="PackedFraction"/> counts the bytes as ONNX Runtime's CPU kernels hold them after prepacking
/// (<see cref="WeightTraffic.PackedBytesPerToken"/>): how close the kernels come to streaming what they read.
/// </summary>
public sealed record DecodeBound(long WeightBytesPerToken, int Threads, Statistic ReadBandwidthBytesPerSecond,
    double BoundTokensPerSecond, double Fraction, long PackedWeightBytesPerToken = 0, double PackedFraction = 0);

/// <summary>
/// Peak resident memory against what must be resident: the weights as stored in the folder, the weights as
/// ONNX Runtime holds them (larger when a narrow type is widened at load), and the preallocated KV cache.
/// </summary>
public sealed record MemoryFootprint(long StoredWeightBytes, long ResidentWeightBytes, long KvCacheBytes,
    long PeakResidentBytes, double PeakOverWeightsAndCache);

/// <summary>
/// Prefill and decode speed of a converted model on random token ids (so any model can be measured without
/// a tokenizer). One untimed repetition warms up JIT, ORT's arena and caches; the timed region holds no I/O.
/// The overhead is the share of decode time spent outside ONNX Runtime's Run.
/// </summary>
public static class DecodeBenchmark
{
    /// <summary>
    /// One sequence through the real generation loop (<see cref="TokenStream"/>: greedy sampler, penalties
    /// off, bookkeeping), so that the overhead reported is the loop's own.
    /// </summary>
    private static (double Prefill, double Decode, double Run) SingleSequence(Runtime.BatchDecoder decoder, int[] prompt, int genTokens)
    {
        decoder.Rewind(0, 0);
        var stream = new Generation.TokenStream(decoder, []);
        stream.Start(prompt, new Generation.GenerationOptions { MaxNewTokens = genTokens, StopAtEos = false });
        while (stream.MoveNext()) { }
        var stats = stream.Stats;
        return (stats.TimeToFirstToken.TotalSeconds, stats.DecodeTime.TotalSeconds, stats.DecodeRunTime.TotalSeconds);
    }

    /// <summary>
    /// Several sequences the way <c>owonnx serve</c> runs them (<see cref="Generation.SlotDecoder"/>): each prompt
    /// prefilled alone in its slot, then every slot decoded together, each token chosen by its own
    /// <see cref="Generation.SequenceGenerator"/> (greedy, EOS off).
    /// </summary>
    private static (double Prefill, double Decode, double Run) Batched(Runtime.BatchDecoder decoder, List<int[]> prompts, int genTokens)
    {
        var runner = new Generation.SlotDecoder(decoder);
        var options = new Generation.GenerationOptions { MaxNewTokens = genTokens, StopAtEos = false };
        var sequences = new Generation.SequenceGenerator?[prompts.Count];
        long start = Stopwatch.GetTimestamp();
        for (int s = 0; s < prompts.Count; s++)
        {
            var sequence = new Generation.SequenceGenerator(decoder.VocabSize, [], decoder.MaxLength, decoder.Config.RopeSwitchLength);
            sequence.Begin(prompts[s], options, logProbs: false);
            sequence.Advance(runner.Prefill(s, prompts[s]));
            sequences[s] = sequence;
        }
        long firstToken = Stopwatch.GetTimestamp();
        Generation.SlotDecoder.LogitsHandler advance = (slot, logits) => sequences[slot]!.Advance(logits);
        long runTicks = runner.RunTicks;
        while (Generation.SlotDecoder.AnyRunning(sequences))
            runner.Run(sequences, advance);
        runTicks = runner.RunTicks - runTicks;
        long end = Stopwatch.GetTimestamp();
        return (Stopwatch.GetElapsedTime(start, firstToken).TotalSeconds, Stopwatch.GetElapsedTime(firstToken, end).TotalSeconds,
            (double)runTicks / Stopwatch.Frequency);
    }

    public static BenchmarkReport Run(string modelDirectory, LanguageModel model, BenchmarkSettings settings,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        settings.Validate();
        int needed = settings.PromptTokens + settings.GenTokens;
        if (needed > model.MaxLength)
            throw new Runtime.ContextOverflowException(needed, model.MaxLength);

        var random = new Random(settings.Seed);
        int vocab = model.Config.VocabSize;
        var prompts = Enumerable.Range(0, settings.Batch)
            .Select(_ => Enumerable.Range(0, settings.PromptTokens).Select(_ => random.Next(vocab)).ToArray())
            .ToList();

        var traffic = WeightTraffic.FromFolder(model.Config.Directory, model.Config.ModelFile);
        int threads = model.Options.Threads ?? Environment.ProcessorCount;
        var peak = new PeakResident();
        var bandwidth = new List<double>();
        long bandwidthBytes = MemoryBandwidth.DefaultBufferBytes();

        using var decoder = model.CreateDecoder(settings.Batch);
        var prefill = new List<double>();
        var decode = new List<double>();
        var ttft = new List<double>();
        var overhead = new List<double>();
        for (int r = -1; r < settings.Repeat; r++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (prefillSeconds, decodeSeconds, runSeconds) = settings.Batch == 1
                ? SingleSequence(decoder, prompts[0], settings.GenTokens)
                : Batched(decoder, prompts, settings.GenTokens);
            if (r < 0)
                continue; // warm-up: JIT, ORT's arena, caches
            prefill.Add(settings.Batch * settings.PromptTokens / prefillSeconds);
            decode.Add(settings.Batch * (settings.GenTokens - 1) / decodeSeconds);
            ttft.Add(prefillSeconds * 1000);
            overhead.Add(100 * (1 - runSeconds / decodeSeconds));
            // Bandwidth between repeats (same machine state as decode), its buffer kept out of the peak.
            if (peak.CanReset || r == settings.Repeat - 1)
                MeasureBandwidth(threads, bandwidthBytes, bandwidth, peak);
            progress?.Report((r + 1, settings.Repeat));
        }

        var memory = ProcessMemory.Read();
        long peakResident = peak.Max(memory.PeakResident);
        var decodeStat = Statistic.Of(decode);
        var bandwidthStat = Statistic.Of(bandwidth);
        // The bound takes the fastest pass: the probe is a plain streaming read, and a bound must not sit below
        // what a kernel was seen to reach (FP16 widened to float32 once read 1.15× the probe's median).
        double boundTokens = bandwidthStat.Max / traffic.BytesPerToken * settings.Batch;
        double packedBound = bandwidthStat.Max / traffic.PackedBytesPerToken * settings.Batch;
        var bound = new DecodeBound(traffic.BytesPerToken, threads, bandwidthStat, boundTokens, decodeStat.Median / boundTokens,
            traffic.PackedBytesPerToken, decodeStat.Median / packedBound);
        long kv = decoder.Cache.BytesPerSlot * decoder.Slots;
        var footprint = new MemoryFootprint(traffic.StoredBytes, traffic.ResidentBytes, kv, peakResident,
            (double)peakResident / (traffic.StoredBytes + kv));
        return new BenchmarkReport(modelDirectory, settings, Statistic.Of(prefill), decodeStat,
            Statistic.Of(ttft), Statistic.Of(overhead), peakResident, memory.AnonymousResident, bound, footprint);
    }

    private static void MeasureBandwidth(int threads, long bytes, List<double> results, PeakResident peak)
    {
        peak.Sample();
        using (var probe = new MemoryBandwidth(threads, bytes))
            for (int pass = 0; pass < 3; pass++)
                results.Add(probe.Measure());
        peak.Reset();
    }
}
