using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Benchmarking;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// Decode and prefill speed of a TinyLlama-shaped random checkpoint (2048 hidden, 22 layers, 32/4 heads, 5632 MLP,
/// 32k vocabulary) converted by owonnx to each precision, interleaved pair by pair with llama.cpp's
/// <c>llama-bench</c> on a random GGUF of the same shape and bits when one is given, so that both see the same
/// machine state. Writes decode.json and decode.md; every ratio is owonnx ÷ llama.cpp within one pair, then the
/// median over pairs.
/// </summary>
public static class DecodeComparison
{
    public static readonly SyntheticCheckpoint.Shape TinyLlama = new(2048, 5632, 22, 32, 4, 32000);

    private static readonly Dictionary<string, string> LlamaType = new() { ["int4"] = "q4_0", ["int8"] = "q8_0", ["fp16"] = "f16" };

    public sealed record Options(string Owonnx, string Work, string Output, string[] Precisions, int Pairs, int Threads,
        string? LlamaBench, string? GgufPy, int PromptTokens = 128, int GenTokens = 64, int Repeat = 2,
        string Python = "python3");

    public static int Run(Options o)
    {
        Directory.CreateDirectory(o.Work);
        Directory.CreateDirectory(o.Output);
        string checkpoint = Path.Combine(o.Work, "tinyllama-random");
        if (!File.Exists(Path.Combine(checkpoint, "config.json")))
        {
            Console.Error.WriteLine($"writing a TinyLlama-shaped random checkpoint to {checkpoint} …");
            SyntheticCheckpoint.Write(checkpoint, TinyLlama);
        }

        string? loadAtStart = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null;
        var rows = new List<JsonObject>();
        foreach (string precision in o.Precisions)
        {
            string model = Path.Combine(o.Work, $"tinyllama-{precision}");
            // Converted afresh every run, so the report always measures the current defaults.
            ChildProcess.Run(o.Owonnx, ["convert", checkpoint, "--output", model, "--precision", precision, "--overwrite"]);
            string? gguf = null;
            if (o.LlamaBench is not null && o.GgufPy is not null && LlamaType.TryGetValue(precision, out var type))
            {
                gguf = Path.Combine(o.Work, $"tinyllama-{type}.gguf");
                if (!File.Exists(gguf))
                {
                    var s = TinyLlama;
                    ChildProcess.Run(o.Python, [Path.Combine(AppContext.BaseDirectory, "scripts", "write_random_gguf.py"), o.GgufPy, gguf, type,
                        .. new[] { s.Hidden, s.Intermediate, s.Layers, s.Heads, s.KvHeads, s.Vocab }.Select(v => v.ToString(CultureInfo.InvariantCulture))]);
                }
            }

            var pairs = new List<JsonObject>();
            for (int pair = 0; pair < o.Pairs; pair++)
            {
                var ours = JsonNode.Parse(ChildProcess.Run(o.Owonnx, ["bench", model, "--prompt-tokens", Text(o.PromptTokens), "--gen-tokens", Text(o.GenTokens), "--repeat", Text(o.Repeat),
                    "--threads", o.Threads.ToString(CultureInfo.InvariantCulture), "--json"]).Stdout)!.AsObject();
                var row = new JsonObject
                {
                    ["prefill"] = ours["prefill_tokens_per_second"]!["median"]!.GetValue<double>(),
                    ["decode"] = ours["decode_tokens_per_second"]!["median"]!.GetValue<double>(),
                    ["bound_fraction"] = ours["bound"]!["fraction"]!.GetValue<double>(),
                    ["packed_bound_fraction"] = ours["bound"]!["packed_fraction"]!.GetValue<double>(),
                    ["packed_mb_per_token"] = ours["bound"]!["packed_weight_bytes_per_token"]!.GetValue<long>() / 1e6,
                    ["bandwidth_gb_s"] = ours["bound"]!["read_bandwidth_bytes_per_second"]!["median"]!.GetValue<double>() / 1e9,
                    ["weight_mb_per_token"] = ours["bound"]!["weight_bytes_per_token"]!.GetValue<long>() / 1e6,
                    ["peak_rss_mib"] = ours["peak_resident_bytes"]!.GetValue<long>() / 1048576.0,
                    ["peak_over_weights_and_cache"] = ours["footprint"]!["peak_over_weights_and_cache"]!.GetValue<double>(),
                    // Anonymous memory cannot be dropped under pressure; file-backed pages (what ORT keeps mapped) can.
                    ["anonymous_over_weights_and_cache"] = ours["anonymous_resident_bytes"]!.GetValue<long>()
                        / (double)(ours["footprint"]!["stored_weight_bytes"]!.GetValue<long>() + ours["footprint"]!["kv_cache_bytes"]!.GetValue<long>()),
                };
                if (gguf is not null)
                {
                    var llama = ChildProcess.Run(o.LlamaBench!, ["-m", gguf, "-p", Text(o.PromptTokens), "-n", Text(o.GenTokens), "-r", Text(o.Repeat), "-t",
                        o.Threads.ToString(CultureInfo.InvariantCulture), "-o", "json"]);
                    foreach (var test in JsonNode.Parse(llama.Stdout)!.AsArray())
                    {
                        double ts = test!["avg_ts"]!.GetValue<double>();
                        if (test["n_prompt"]!.GetValue<int>() > 0) row["llama_prefill"] = ts;
                        else row["llama_decode"] = ts;
                    }
                    row["llama_peak_rss_mib"] = llama.PeakResident / 1048576.0;
                    row["prefill_ratio"] = row["prefill"]!.GetValue<double>() / row["llama_prefill"]!.GetValue<double>();
                    row["decode_ratio"] = row["decode"]!.GetValue<double>() / row["llama_decode"]!.GetValue<double>();
                }
                Console.Error.WriteLine($"{precision} pair {pair + 1}: {row.ToJsonString()}");
                pairs.Add(row);
            }
            var summary = new JsonObject { ["precision"] = precision, ["llama_type"] = gguf is null ? null : LlamaType[precision] };
            foreach (string key in pairs[0].Select(kv => kv.Key))
                summary[key] = Statistic.Of(pairs.Select(p => p[key]!.GetValue<double>()).ToList()).Median;
            summary["pairs"] = new JsonArray(pairs.Select(p => (JsonNode)p.DeepClone()).ToArray());
            summary["decode_profile"] = OrtProfileSummary.Profile(o.Owonnx, model, o.Work, o.Threads, steps: 32);
            rows.Add(summary);
        }

        var report = new JsonObject
        {
            ["machine"] = Machine(),
            ["threads"] = o.Threads,
            ["prompt_tokens"] = o.PromptTokens,
            ["gen_tokens"] = o.GenTokens,
            ["repeat"] = o.Repeat,
            ["load_average_at_start"] = loadAtStart,
            ["shape"] = JsonSerializer.SerializeToNode(TinyLlama),
            ["load_average_at_end"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
            ["results"] = new JsonArray(rows.Select(r => (JsonNode)r).ToArray()),
        };
        File.WriteAllText(Path.Combine(o.Output, "decode.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(o.Output, "decode.md"), Markdown(report, rows));
        Console.WriteLine(File.ReadAllText(Path.Combine(o.Output, "decode.md")));
        return 0;
    }

    private static string Markdown(JsonObject report, List<JsonObject> rows)
    {
        string F(JsonObject r, string key, string format) => r[key] is { } v ? v.GetValue<double>().ToString(format, CultureInfo.InvariantCulture) : "–";
        var md = new StringBuilder();
        md.AppendLine($"Machine: {report["machine"]}; {report["threads"]} threads; load average at the start {report["load_average_at_start"]}, at the end {report["load_average_at_end"]}.");
        md.AppendLine($"Medians over {((JsonArray)rows[0]["pairs"]!).Count} interleaved pairs (owonnx bench, then llama-bench; prompt {report["prompt_tokens"]} / generate {report["gen_tokens"]}, {report["repeat"]} repeats each).");
        md.AppendLine();
        md.AppendLine("| owonnx | llama.cpp | prefill t/s | llama prefill | ratio | decode t/s | llama decode | ratio | decode ÷ bandwidth bound | MB read/token | ÷ bound, prepacked bytes | MB/token prepacked | peak RSS MiB | ÷ (weights+KV) | anonymous ÷ (weights+KV) | llama peak RSS MiB |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var r in rows)
            md.AppendLine($"| {r["precision"]} | {r["llama_type"]?.ToString() ?? "–"} | {F(r, "prefill", "F1")} | {F(r, "llama_prefill", "F1")} | {F(r, "prefill_ratio", "F2")}× | " +
                          $"{F(r, "decode", "F1")} | {F(r, "llama_decode", "F1")} | {F(r, "decode_ratio", "F2")}× | {F(r, "bound_fraction", "P0")} | " +
                          $"{F(r, "weight_mb_per_token", "F0")} | {F(r, "packed_bound_fraction", "P0")} | {F(r, "packed_mb_per_token", "F0")} | {F(r, "peak_rss_mib", "F0")} | {F(r, "peak_over_weights_and_cache", "F2")} | {F(r, "anonymous_over_weights_and_cache", "F2")} | {F(r, "llama_peak_rss_mib", "F0")} |");
        md.AppendLine();
        md.AppendLine("Where decode time goes (ONNX Runtime profile of 32 single-token steps, share of all kernel time):");
        md.AppendLine();
        md.AppendLine("| owonnx | by operator | MatMulNBits by projection |");
        md.AppendLine("| --- | --- | --- |");
        static string Shares(JsonNode? shares, int top) => shares is JsonObject o
            ? string.Join(", ", o.Take(top).Select(kv => $"{kv.Key} {kv.Value!.GetValue<double>() * 100:F1} %"))
            : "–";
        foreach (var r in rows)
            md.AppendLine($"| {r["precision"]} | {Shares(r["decode_profile"]?["op_share"], 5)} | {Shares(r["decode_profile"]?["matmulnbits_share"], 6)} |");
        return md.ToString();
    }

    /// <summary>The CPU's model, core count and its vector/matrix extensions (what both tools' kernels pick from).</summary>
    internal static string Machine()
    {
        if (!File.Exists("/proc/cpuinfo"))
            return $"{Environment.ProcessorCount} cores";
        var lines = File.ReadLines("/proc/cpuinfo").ToList();
        string cpu = lines.FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        var flags = (lines.FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal))?.Split(':', 2)[1] ?? "")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(f => f.StartsWith("avx", StringComparison.Ordinal) || f.StartsWith("amx", StringComparison.Ordinal) || f is "fma" or "f16c")
            .Order(StringComparer.Ordinal);
        return $"{cpu}, {Environment.ProcessorCount} cores, {string.Join(' ', flags)}";
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

}
