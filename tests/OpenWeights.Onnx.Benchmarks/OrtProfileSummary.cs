using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// Where decode time goes, from ONNX Runtime's own profile (<c>OWONNX_ORT_PROFILE</c>): kernel time summed per
/// operator type, and MatMulNBits split by the projection it computes (read from our node names), as shares of
/// all kernel time. The profile is of single-token steps (prompt 1, then decode), so prefill does not dilute it.
/// </summary>
internal static class OrtProfileSummary
{
    /// <summary>Profiles <paramref name="model"/> with <c>owonnx bench</c> and summarises the profile file ORT wrote.</summary>
    public static JsonObject Profile(string owonnx, string model, string work, int threads, int steps)
    {
        string prefix = Path.Combine(work, $"profile-{Path.GetFileName(model)}");
        foreach (var old in ProfileFiles(prefix))
            File.Delete(old);
        ChildProcess.Run(owonnx, ["bench", model, "--prompt-tokens", "1", "--gen-tokens", steps.ToString(CultureInfo.InvariantCulture),
            "--repeat", "1", "--threads", threads.ToString(CultureInfo.InvariantCulture)],
            new Dictionary<string, string?> { ["OWONNX_ORT_PROFILE"] = prefix });
        var files = ProfileFiles(prefix).ToList();
        if (files.Count == 0)
            throw new InvalidOperationException($"ONNX Runtime wrote no profile at {prefix}*.json");
        return Summarise(files);
    }

    private static IEnumerable<string> ProfileFiles(string prefix) =>
        Directory.EnumerateFiles(Path.GetDirectoryName(prefix)!, Path.GetFileName(prefix) + "*.json");

    public static JsonObject Summarise(IEnumerable<string> files)
    {
        var byOp = new Dictionary<string, double>(StringComparer.Ordinal);
        var byProjection = new Dictionary<string, double>(StringComparer.Ordinal);
        double total = 0;
        foreach (var file in files)
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node"
                    || !e.TryGetProperty("name", out var name) || name.GetString() is not { } n || !n.EndsWith("_kernel_time", StringComparison.Ordinal)
                    || !e.TryGetProperty("args", out var args) || !args.TryGetProperty("op_name", out var op))
                    continue;
                double us = e.GetProperty("dur").GetDouble();
                total += us;
                string opName = op.GetString()!;
                byOp[opName] = byOp.GetValueOrDefault(opName) + us;
                if (opName == "MatMulNBits")
                {
                    string projection = Projection(n);
                    byProjection[projection] = byProjection.GetValueOrDefault(projection) + us;
                }
            }
        }
        if (total == 0)
            throw new InvalidOperationException("the ONNX Runtime profile holds no node kernel times");
        JsonObject Shares(Dictionary<string, double> d) =>
            new(d.OrderByDescending(kv => kv.Value).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Math.Round(kv.Value / total, 4))));
        return new JsonObject { ["op_share"] = Shares(byOp), ["matmulnbits_share"] = Shares(byProjection) };
    }

    /// <summary>"layers.3.mlp.gate_up_proj/MatMulNBits_kernel_time" → "gate_up_proj"; the head → "lm_head".</summary>
    private static string Projection(string node)
    {
        string path = node.Split('/')[0];
        return path.StartsWith("lm_head", StringComparison.Ordinal) ? "lm_head" : path.Split('.')[^1];
    }
}
