using Cocona;
using OpenWeights.Onnx.Benchmarking;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Cli.Commands;

public sealed class BenchCommand
{
    [Command("bench", Description = "Measure prefill and decode speed on random token ids (median and range over repeats, after a warm-up).")]
    public int Bench(
        [FromService] CoconaAppContext context,
        [Argument(Description = "Converted model folder")] string model,
        DeviceParameters device,
        [Option("prompt-tokens")] int promptTokens = 128,
        [Option("gen-tokens")] int genTokens = 64,
        [Option] int batch = 1,
        [Option] int repeat = 5,
        [Option(Description = "Print the report as JSON")] bool json = false,
        [Option(Description = "Also write the JSON report to this file")] string? output = null,
        [Option(Description = "Execution provider: cpu, cuda, tensorrt")] string ep = "cpu",
        [Option(Description = "Intra-op threads (default: one per core)")] int? threads = null,
        [Option(Description = "Let ORT's threads spin between ops: on, off (default: ORT's, on)")] string? spinning = null)
    {
        return CliErrors.Run(() =>
        {
            var settings = new BenchmarkSettings(promptTokens, genTokens, batch, repeat);
            settings.Validate();
            var runtime = new RuntimeOptions
            {
                ExecutionProvider = CliParse.Target(ep),
                MaxBatch = batch,
                MaxLength = promptTokens + genTokens,
                Threads = threads,
                AllowSpinning = spinning switch
                {
                    null => null,
                    "on" => true,
                    "off" => false,
                    _ => throw new ArgumentException($"--spinning '{spinning}' must be on or off."),
                },
                Gpu = device.ToGpuOptions(),
            };
            using var lm = LanguageModel.Load(model, runtime);
            using var line = new ProgressLine();
            var report = DecodeBenchmark.Run(model, lm, settings,
                new SyncProgress<(int Done, int Total)>(p => line.Update($"bench {ProgressLine.Bar((double)p.Done / p.Total)} {p.Done}/{p.Total}", force: true)),
                context.CancellationToken);
            line.Dispose();

            string text = CliJson.Serialize(report);
            if (output is not null)
                File.WriteAllText(output, text);
            if (json)
                Console.WriteLine(text);
            else
                Print(report);
            return 0;
        });
    }

    private static void Print(BenchmarkReport r)
    {
        static string S(Statistic s, string unit) => $"{s.Median,9:F1} {unit,-9} (min {s.Min:F1}, max {s.Max:F1})";
        Console.WriteLine($"model      {r.Model}");
        Console.WriteLine($"settings   prompt {r.Settings.PromptTokens}, generate {r.Settings.GenTokens}, batch {r.Settings.Batch}, repeat {r.Settings.Repeat}");
        Console.WriteLine($"prefill    {S(r.PrefillTokensPerSecond, "tokens/s")}");
        Console.WriteLine($"decode     {S(r.DecodeTokensPerSecond, "tokens/s")}");
        Console.WriteLine($"first tok  {S(r.TimeToFirstTokenMs, "ms")}");
        Console.WriteLine($"overhead   {S(r.LoopOverheadPercent, "% of decode")}");
        var b = r.Bound;
        Console.WriteLine($"weights    {b.WeightBytesPerToken / 1e6:F1} MB read per decode step");
        Console.WriteLine($"bandwidth  {S(Scale(b.ReadBandwidthBytesPerSecond, 1e-9), "GB/s")} read, {b.Threads} threads, same run");
        Console.WriteLine($"bound      {b.BoundTokensPerSecond,9:F1} tokens/s if decode only read weights: decode is {b.Fraction:P0} of it");
        var m = r.Footprint;
        Console.WriteLine($"memory     peak RSS {MiB(r.PeakResidentBytes)} MiB = {m.PeakOverWeightsAndCache:F2} × (weights {MiB(m.StoredWeightBytes)} MiB + KV cache {MiB(m.KvCacheBytes)} MiB)" +
                          (m.ResidentWeightBytes > m.StoredWeightBytes * 1.05 ? $"; weights widened at load to {MiB(m.ResidentWeightBytes)} MiB" : "") +
                          $"; anonymous {MiB(r.AnonymousResidentBytes)} MiB");
    }

    private static string MiB(long bytes) => (bytes / 1048576.0).ToString("F1");

    private static Statistic Scale(Statistic s, double factor) => new(s.Median * factor, s.Min * factor, s.Max * factor);
}
