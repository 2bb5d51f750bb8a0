using System.CommandLine;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Benchmarking;
using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Tokenization;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary><c>owonnx bench &lt;model&gt;</c>: prefill and decode speed on random token ids.</summary>
internal static class BenchCommand
{
    public static Command Create(Interrupts interrupts)
    {
        var model = new Argument<string>("model") { Description = "Converted model folder" }.RejectingOptions("bench");
        var promptTokens = CliOptions.Int("--prompt-tokens", "Prompt length in tokens", 128, 1);
        var genTokens = CliOptions.Int("--gen-tokens", "Tokens generated per repeat", 64, 2);
        var batch = CliOptions.Int("--batch", "Sequences decoded together", 1, 1, 256);
        var repeat = CliOptions.Int("--repeat", "Measured repeats (after one warm-up)", 5, 1, 1000);
        var json = CliOptions.Flag("--json", "Print the report as JSON");
        var output = CliOptions.Text("--output", "Also write the JSON report to this file (default: none)");
        var ep = CliOptions.Choice("--ep", "Execution provider", "cpu", "cpu", "cuda", "tensorrt");
        var threads = CliOptions.OptionalInt("--threads", "ONNX Runtime intra-op threads (default: one per core)", 1, RuntimeOptions.MaxThreads);
        var spinning = CliOptions.Choice("--spinning", "Let ORT's threads spin between ops (default: ORT's, on)", null, "on", "off");
        var schema = CliOptions.Text("--json-schema",
            "Also measure constrained sampling with this JSON Schema file: decode step time with and without it, and the mask's cost per token (default: none)");
        var device = new DeviceOptionSet();
        var command = new Command("bench", "Measure prefill and decode speed on random token ids (median and range over repeats, after a warm-up).")
        {
            model, promptTokens, genTokens, batch, repeat, json, output, ep, threads, spinning, schema,
        };
        device.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(() =>
        {
            var settings = new BenchmarkSettings(parse.GetValue(promptTokens), parse.GetValue(genTokens), parse.GetValue(batch), parse.GetValue(repeat));
            settings.Validate();
            var constraint = ConstraintOptionSet.ReadSchema(parse.GetValue(schema));
            var runtime = new RuntimeOptions
            {
                ExecutionProvider = ExecutionTargets.Parse(parse.GetValue(ep)!),
                MaxBatch = settings.Batch,
                MaxLength = settings.PromptTokens + settings.GenTokens,
                Threads = parse.GetValue(threads),
                AllowSpinning = parse.GetValue(spinning) switch { "on" => true, "off" => false, _ => null },
                Gpu = device.Read(parse),
            };
            string folder = parse.GetValue(model)!;
            using var lm = LanguageModel.Load(folder, runtime);
            using var line = new ProgressLine();
            var report = DecodeBenchmark.Run(folder, lm, settings,
                new SyncProgress<(int Done, int Total)>(p => line.Update($"bench {ProgressLine.Bar((double)p.Done / p.Total)} {p.Done}/{p.Total}", force: true)),
                interrupts.Token);
            if (constraint is not null)
            {
                line.Update("bench: constrained sampling", force: true);
                var cost = ConstraintBenchmark.Measure(lm, TextTokenizer.FromFolder(folder), constraint, settings.PromptTokens,
                    settings.GenTokens, settings.Repeat, settings.Seed, interrupts.Token);
                report = report with { Constraint = cost };
            }
            line.Dispose();

            string text = CliJson.Serialize(report);
            if (parse.GetValue(output) is { } file)
                File.WriteAllText(file, text);
            if (parse.GetValue(json))
                Console.WriteLine(text);
            else
                Print(report);
            return Task.FromResult(CliErrors.Success);
        }));
        return command;
    }


    private static void Print(BenchmarkReport r)
    {
        static string S(Statistic s, string unit) => $"{s.Median,9:F1} {unit,-9} (min {s.Min:F1}, max {s.Max:F1})";
        Console.WriteLine($"model      {r.Model}");
        Console.WriteLine($"settings   prompt {r.Settings.PromptTokens}, generate {r.Settings.GenTokens}, batch {r.Settings.Batch}, repeat {r.Settings.Repeat}");
        Console.WriteLine($"prefill    {S(r.PrefillTokensPerSecond, "tokens/s")}");
        Console.WriteLine($"decode     {S(r.DecodeTokensPerSecond, "tokens/s")}");
        Console.WriteLine($"first tok  {S(r.TimeToFirstTokenMs, "ms")}");
        Console.WriteLine($"overhead   {S(r.LoopOverheadPercent, "% of decode")} time outside ONNX Runtime's Run (sampling, bookkeeping)");
        var b = r.Bound;
        bool repacked = b.PackedWeightBytesPerToken != b.WeightBytesPerToken;
        Console.WriteLine($"weights    {b.WeightBytesPerToken / 1e6:F1} MB read per decode step" +
                          (repacked ? $" as stored; {b.PackedWeightBytesPerToken / 1e6:F1} MB as ONNX Runtime prepacks them for int8 compute (two floats per block)" : ""));
        Console.WriteLine($"bandwidth  {S(Scale(b.ReadBandwidthBytesPerSecond, 1e-9), "GB/s")} read, {b.Threads} threads, same run");
        Console.WriteLine($"bound      {b.BoundTokensPerSecond,9:F1} tokens/s if decode only read weights: decode is {b.Fraction:P0} of it" +
                          (repacked ? $" ({b.PackedFraction:P0} counting the prepacked bytes)" : ""));
        var m = r.Footprint;
        Console.WriteLine($"memory     peak RSS {MiB(r.PeakResidentBytes)} MiB = {m.PeakOverWeightsAndCache:F2} × (weights {MiB(m.StoredWeightBytes)} MiB + KV cache {MiB(m.KvCacheBytes)} MiB)" +
                          (m.ResidentWeightBytes > m.StoredWeightBytes * 1.05 ? $"; weights widened at load to {MiB(m.ResidentWeightBytes)} MiB" : "") +
                          $"; anonymous {MiB(r.AnonymousResidentBytes)} MiB");
        if (r.Constraint is { } c)
        {
            Console.WriteLine($"json step  {c.StepMsConstrained:F3} ms per token constrained vs {c.StepMsFree:F3} ms free = {c.StepRatio:F2}× " +
                              $"(sampling at temperature 1, {c.Tokens} tokens, medians; {c.Documents} documents completed)");
            Console.WriteLine($"json mask  {c.MaskUsPerToken:F1} µs per token added to choosing it ({c.ChooseUsConstrained:F1} vs {c.ChooseUsFree:F1} µs); " +
                              $"vocabulary {c.VocabSize}, masks walked {c.MaskWalks}, cached {c.MaskHits}");
        }
    }

    private static string MiB(long bytes) => (bytes / 1048576.0).ToString("F1");

    private static Statistic Scale(Statistic s, double factor) => new(s.Median * factor, s.Min * factor, s.Max * factor);
}
