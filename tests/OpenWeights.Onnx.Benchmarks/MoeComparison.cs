using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Benchmarking;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// Whether a mixture-of-experts decode step costs its active parameters: a Mixtral-shaped random checkpoint
/// (8 experts, top-2, hidden 1024, expert width 3584, 8 layers, 16/4 heads, 32k vocabulary) against a dense Llama
/// of the same active parameter count (the same attention and embeddings, MLP width 2 × 3584), both INT4; and, in
/// FP32, the routed graph (ONNX Runtime's MoE) against the dense all-experts standard-op graph
/// (<see cref="ConversionOptions.DenseExperts"/>), which does E/k = 4× the MLP work. Each pair is measured back to
/// back (owonnx bench, random prompt ids, spinning off) and the ratio taken within the pair; medians over pairs.
/// Writes moe.json and moe.md.
/// </summary>
public static class MoeComparison
{
    public static readonly SyntheticCheckpoint.Shape Mixtral = new(1024, 3584, 8, 16, 4, 32000, Experts: 8, PerToken: 2);
    public static SyntheticCheckpoint.Shape DenseEquivalent => Mixtral with { Intermediate = Mixtral.PerToken * Mixtral.Intermediate, Experts = 0 };

    public sealed record Options(string Owonnx, string Work, string Output, int Pairs, int Threads, string[] Comparisons);

    private sealed record Variant(string Name, string Checkpoint, ConversionOptions Conversion);

    public static int Run(Options o)
    {
        Directory.CreateDirectory(o.Work);
        Directory.CreateDirectory(o.Output);
        string moe = Checkpoint(o.Work, "mixtral-random", Mixtral);
        string dense = Checkpoint(o.Work, "dense-equivalent-random", DenseEquivalent);
        var int4 = new ConversionOptions { Precision = Precision.Int4, Logits = LogitsScope.Last, Overwrite = true };
        var fp32 = new ConversionOptions { Precision = Precision.Fp32, Logits = LogitsScope.Last, Overwrite = true };
        (string Key, string Label, Variant A, Variant B)[] all =
        [
            ("int4", "INT4: Mixtral-shaped MoE (QMoE, 2 of 8 experts) ÷ dense model of the same active parameters",
                new("moe-int4", moe, int4), new("dense-int4", dense, int4)),
            ("fp32", "FP32: routed experts (MoE) ÷ every expert on every token (standard ops)",
                new("moe-fp32", moe, fp32), new("moe-fp32-all-experts", moe, fp32 with { DenseExperts = true })),
        ];

        var comparisons = all.Where(c => o.Comparisons.Contains(c.Key)).ToArray();
        var rows = new List<JsonObject>();
        foreach (var (_, label, a, b) in comparisons)
        {
            string folderA = Convert(o.Work, a), folderB = Convert(o.Work, b);
            var pairs = new List<JsonObject>();
            for (int pair = 0; pair < o.Pairs; pair++)
            {
                var (decodeA, mbA) = Bench(o, folderA);
                var (decodeB, mbB) = Bench(o, folderB);
                var row = new JsonObject
                {
                    ["decode_a"] = decodeA, ["decode_b"] = decodeB, ["ratio"] = decodeA / decodeB,
                    ["mb_per_token_a"] = mbA, ["mb_per_token_b"] = mbB,
                };
                Console.Error.WriteLine($"{a.Name} vs {b.Name} pair {pair + 1}: {row.ToJsonString()}");
                pairs.Add(row);
            }
            var summary = new JsonObject { ["comparison"] = label, ["a"] = a.Name, ["b"] = b.Name };
            foreach (string key in pairs[0].Select(kv => kv.Key))
                summary[key] = Statistic.Of(pairs.Select(p => p[key]!.GetValue<double>()).ToList()).Median;
            summary["pairs"] = new JsonArray(pairs.Select(p => (JsonNode)p.DeepClone()).ToArray());
            rows.Add(summary);
        }

        var report = new JsonObject
        {
            ["threads"] = o.Threads,
            ["moe_shape"] = JsonSerializer.SerializeToNode(Mixtral),
            ["dense_shape"] = JsonSerializer.SerializeToNode(DenseEquivalent),
            ["load_average_at_end"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
            ["results"] = new JsonArray(rows.Select(r => (JsonNode)r).ToArray()),
        };
        File.WriteAllText(Path.Combine(o.Output, "moe.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var md = new StringBuilder();
        md.AppendLine($"{o.Threads} threads, spinning off; load average at the end {report["load_average_at_end"]}. Medians over {o.Pairs} back-to-back pairs.");
        md.AppendLine();
        md.AppendLine("| comparison | A decode t/s | B decode t/s | A ÷ B | A MB read/token | B MB read/token |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var r in rows)
            md.AppendLine($"| {r["comparison"]} | {F(r, "decode_a", "F1")} | {F(r, "decode_b", "F1")} | {F(r, "ratio", "F2")}× | {F(r, "mb_per_token_a", "F0")} | {F(r, "mb_per_token_b", "F0")} |");
        File.WriteAllText(Path.Combine(o.Output, "moe.md"), md.ToString());
        Console.WriteLine(md);
        return 0;
    }

    private static string F(JsonObject r, string key, string format) => r[key]!.GetValue<double>().ToString(format, CultureInfo.InvariantCulture);

    private static string Checkpoint(string work, string name, SyntheticCheckpoint.Shape shape)
    {
        string dir = Path.Combine(work, name);
        if (!File.Exists(Path.Combine(dir, "config.json")))
        {
            Console.Error.WriteLine($"writing {name} ({shape}) …");
            SyntheticCheckpoint.Write(dir, shape);
        }
        return dir;
    }

    private static string Convert(string work, Variant v)
    {
        string output = Path.Combine(work, v.Name);
        if (!File.Exists(Path.Combine(output, "model.onnx")))
        {
            Console.Error.WriteLine($"converting {v.Name} …");
            new ModelConverter(KnownFamilies.All).Convert(v.Checkpoint, output, v.Conversion);
        }
        return output;
    }

    private static (double Decode, double MbPerToken) Bench(Options o, string model)
    {
        string stdout = ChildProcess.Run(o.Owonnx, ["bench", model, "--prompt-tokens", "32", "--gen-tokens", "32", "--repeat", "3",
            "--threads", o.Threads.ToString(CultureInfo.InvariantCulture), "--spinning", "off", "--json"]).Stdout;
        var json = JsonNode.Parse(stdout)!;
        return (json["decode_tokens_per_second"]!["median"]!.GetValue<double>(), json["bound"]!["weight_bytes_per_token"]!.GetValue<long>() / 1e6);
    }

}
