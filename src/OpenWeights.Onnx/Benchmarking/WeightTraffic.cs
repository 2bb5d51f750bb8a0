using OpenWeights.Onnx.Onnx.Proto;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Benchmarking;

/// <summary>
/// The weight bytes one decode step of one sequence has to read, from a converted graph's initializers and
/// the nodes that use them — what bounds decode speed on a CPU: tokens/s ≤ read bandwidth ÷ bytes per token.
/// </summary>
/// <remarks>
/// Counting rules: an initializer read by a compute node (MatMulNBits, MatMul, a norm…) is read whole each
/// step; a table read by <c>Gather</c>/<c>GatherBlockQuantized</c> (embeddings, rotary tables) and the
/// cos/sin caches of <c>GroupQueryAttention</c> give one row per token; the expert stacks of a <c>MoE</c>/<c>QMoE</c>
/// node, k of their E experts. One span of external bytes named
/// twice (a tied, quantized embedding and head) is counted once, at its largest use. An initializer that
/// only feeds a <c>Cast</c> is folded by ONNX Runtime at load: what is read is the cast result, in its type
/// (a float16 file computed in float32 reads 4 bytes per weight, not 2).
/// <para>
/// <see cref="PackedBytesPerToken"/> counts a CPU <c>MatMulNBits</c> at accuracy_level 4 (int8 compute) as ONNX
/// Runtime 1.31's MLAS holds it after prepacking on x86-64: the quantized data plus two float32 per block (the
/// scale, and a block sum that folds in the zero point); the stored scales and zero points are then not read.
/// At blocks of 32 that is 6 bits per 4-bit weight where the file holds 5 — what the kernel actually streams.
/// </para>
/// </remarks>
public sealed record WeightTraffic(long BytesPerToken, long StoredBytes, long ResidentBytes, long PackedBytesPerToken)
{
    public static WeightTraffic FromFolder(string directory, string modelFile = "model.onnx")
    {
        string path = Path.Combine(directory, modelFile);
        using var stream = File.OpenRead(path);
        return FromModel(ModelProto.Parser.ParseFrom(stream));
    }

    public static WeightTraffic FromModel(ModelProto model)
    {
        var graph = model.Graph;
        var initializers = new Dictionary<string, Stored>(StringComparer.Ordinal);
        var stored = new Dictionary<object, long>();
        foreach (var t in graph.Initializer)
        {
            var item = Stored.Of(t);
            initializers[t.Name] = item;
            stored[item.Key] = item.Bytes;
        }

        // Cast(initializer) is constant-folded: its output is the tensor actually resident and read.
        var uses = graph.Node.SelectMany(n => n.Input).Where(initializers.ContainsKey)
            .GroupBy(name => name).ToDictionary(g => g.Key, g => g.Count());
        var tensors = new Dictionary<string, Stored>(initializers, StringComparer.Ordinal);
        var folded = new HashSet<object>();
        foreach (var node in graph.Node)
        {
            if (node.OpType != "Cast" || node.Input.Count != 1 || !initializers.TryGetValue(node.Input[0], out var source))
                continue;
            long to = node.Attribute.FirstOrDefault(a => a.Name == "to")?.I ?? 0;
            tensors[node.Output[0]] = source with { Key = node.Output[0], Bytes = source.Elements * ElementBytes((DataType)to) };
            if (uses[node.Input[0]] == 1)
                folded.Add(source.Key);
        }

        var read = new Dictionary<object, long>();
        var packed = new Dictionary<object, long>();
        foreach (var node in graph.Node)
        {
            if (node.OpType == "Cast")
                continue;
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (!tensors.TryGetValue(node.Input[i], out var t))
                    continue;
                long bytes = ReadsOneRow(node, i) && t.Rows > 0 ? t.Bytes / t.Rows
                    : RoutedExperts(node, i) is { } k && t.Rows > 0 ? t.Bytes * Math.Min(k, t.Rows) / t.Rows
                    : t.Bytes;
                read[t.Key] = Math.Max(read.GetValueOrDefault(t.Key), bytes);
                packed[t.Key] = Math.Max(packed.GetValueOrDefault(t.Key), PackedInt8Compute(node, i, bytes) ?? bytes);
            }
        }

        long resident = stored.Where(kv => !folded.Contains(kv.Key)).Sum(kv => kv.Value)
                        + tensors.Values.Where(t => t.Key is string && !initializers.ContainsKey((string)t.Key)).Sum(t => t.Bytes);
        return new WeightTraffic(read.Values.Sum(), stored.Values.Sum(), resident, packed.Values.Sum());
    }

    /// <summary>
    /// For input <paramref name="index"/> of a MatMulNBits at accuracy_level 4, what the prepacked B holds of it:
    /// B's data plus 8 bytes per block (float32 scale and block sum); nothing for scales and zero points, which
    /// are folded into it. Null for any other input or node.
    /// </summary>
    private static long? PackedInt8Compute(NodeProto node, int index, long bytes)
    {
        if (node.OpType != "MatMulNBits" || node.Domain != "com.microsoft" || Attribute(node, "accuracy_level") != 4)
            return null;
        long n = Attribute(node, "N"), k = Attribute(node, "K"), block = Attribute(node, "block_size");
        return index switch
        {
            1 when block > 0 => bytes + n * ((k + block - 1) / block) * 8,
            2 or 3 => 0,
            _ => null,
        };
    }

    private static long Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.I ?? 0;

    /// <summary>
    /// For an expert stack [E, …] of a MoE/QMoE node (every input after the router), the k experts one token is
    /// routed to: a decode step reads k of the E experts' weights, scales and zero points. Null otherwise.
    /// </summary>
    private static long? RoutedExperts(NodeProto node, int index) =>
        node.OpType is "MoE" or "QMoE" && node.Domain == "com.microsoft" && index >= 2
            ? node.Attribute.FirstOrDefault(a => a.Name == "k")?.I
            : null;

    /// <summary>Whether input <paramref name="index"/> of a node is a table of which a decode step reads one row.</summary>
    private static bool ReadsOneRow(NodeProto node, int index)
    {
        long axis = node.Attribute.FirstOrDefault(a => a.Name is "axis" or "gather_axis")?.I ?? 0;
        return node.OpType switch
        {
            "Gather" => index == 0 && axis == 0,
            // data, scales and zero points are all indexed by row.
            "GatherBlockQuantized" => index is 0 or 2 or 3 && axis == 0,
            // cos_cache and sin_cache: one position per token.
            "GroupQueryAttention" => index is 7 or 8,
            _ => false,
        };
    }

    private sealed record Stored(object Key, long Bytes, long Elements, long Rows)
    {
        public static Stored Of(TensorProto t)
        {
            long elements = t.Dims.Aggregate(1L, (a, b) => a * b);
            long rows = t.Dims.Count > 0 ? t.Dims[0] : 1;
            if (t.DataLocation == TensorProto.Types.DataLocation.External)
            {
                long offset = long.Parse(t.ExternalData.First(e => e.Key == "offset").Value);
                long length = long.Parse(t.ExternalData.First(e => e.Key == "length").Value);
                return new Stored((offset, length), length, elements, rows);
            }
            long inline = t.RawData.Length + 4L * t.FloatData.Count + 8L * t.Int64Data.Count + 4L * t.Int32Data.Count;
            return new Stored(t.Name, inline, elements, rows);
        }
    }

    private static long ElementBytes(DataType type) => type switch
    {
        DataType.Double or DataType.Int64 or DataType.Uint64 => 8,
        DataType.Float or DataType.Int32 or DataType.Uint32 => 4,
        DataType.Float16 or DataType.Bfloat16 or DataType.Int16 or DataType.Uint16 => 2,
        _ => 1,
    };
}
