using System.Diagnostics;
using System.Numerics.Tensors;

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
    long AnonymousResidentBytes);

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

    /// <summary>Several sequences prefilled together and decoded together, greedy by argmax.</summary>
    private static (double Prefill, double Decode, double Run) Batched(Runtime.BatchDecoder decoder, List<int[]> prompts, int genTokens, int vocab)
    {
        var tokens = new int[prompts.Count];
        var active = Enumerable.Repeat(true, prompts.Count).ToArray();
        long start = Stopwatch.GetTimestamp();
        var logits = decoder.Prefill(prompts);
        for (int b = 0; b < tokens.Length; b++)
            tokens[b] = TensorPrimitives.IndexOfMax(logits.Slice(b * vocab, vocab));
        long firstToken = Stopwatch.GetTimestamp();
        long runTicks = 0;
        for (int step = 1; step < genTokens; step++)
        {
            long before = Stopwatch.GetTimestamp();
            logits = decoder.Step(tokens, active);
            runTicks += Stopwatch.GetTimestamp() - before;
            for (int b = 0; b < tokens.Length; b++)
                tokens[b] = TensorPrimitives.IndexOfMax(logits.Slice(b * vocab, vocab));
        }
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
                : Batched(decoder, prompts, settings.GenTokens, vocab);
            if (r < 0)
                continue; // warm-up: JIT, ORT's arena, caches
            prefill.Add(settings.Batch * settings.PromptTokens / prefillSeconds);
            decode.Add(settings.Batch * (settings.GenTokens - 1) / decodeSeconds);
            ttft.Add(prefillSeconds * 1000);
            overhead.Add(100 * (1 - runSeconds / decodeSeconds));
            progress?.Report((r + 1, settings.Repeat));
        }

        var memory = ProcessMemory.Read();
        return new BenchmarkReport(modelDirectory, settings, Statistic.Of(prefill), Statistic.Of(decode),
            Statistic.Of(ttft), Statistic.Of(overhead), memory.PeakResident, memory.AnonymousResident);
    }
}
