using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Adapters;

/// <summary>
/// A run-time adapter as <c>owonnx adapter</c> writes it: a SafeTensors file whose float32 tensors are named after
/// the graph inputs they feed (<c>layers.0.attn.q_proj.lora_A</c> [in, r], <c>….lora_B</c> [r, out] with the
/// scale folded in), and metadata saying what it is. Small (the adapter's own size), and readable by any
/// SafeTensors tool.
/// </summary>
public sealed class AdapterFile
{
    public const string Extension = ".safetensors";
    public const string Format = "owonnx-lora";
    public const string FormatKey = "format";
    public const int Version = 1;

    /// <summary>Graph input name → values and shape ([in, r] for A, [r, out] for B).</summary>
    public required IReadOnlyDictionary<string, (float[] Values, long[] Shape)> Tensors { get; init; }
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }
    public string Path { get; init; } = "";

    /// <summary>The largest rank over the adapter's layers.</summary>
    public int Rank => Tensors.Where(t => t.Key.EndsWith(LoraSite.ASuffix, StringComparison.Ordinal))
        .Select(t => (int)t.Value.Shape[1]).DefaultIfEmpty(0).Max();

    /// <summary>Bytes of the adapter's tensors in memory.</summary>
    public long Bytes => Tensors.Values.Sum(t => (long)t.Values.Length * sizeof(float));

    /// <summary>The graph-input form of matched PEFT pairs: A [in, r] = Aᵀ, B [r, out] = (scale·B)ᵀ.</summary>
    public static AdapterFile From(IEnumerable<(LoraSite Site, LoraPair Pair)> pairs, IReadOnlyDictionary<string, string> metadata)
    {
        var tensors = new Dictionary<string, (float[], long[])>(StringComparer.Ordinal);
        foreach (var (site, p) in pairs)
        {
            var a = new float[p.InFeatures * p.Rank];
            var b = new float[p.Rank * p.OutFeatures];
            for (int r = 0; r < p.Rank; r++)
            {
                for (int i = 0; i < p.InFeatures; i++)
                    a[i * p.Rank + r] = p.A[r * p.InFeatures + i];
                for (int o = 0; o < p.OutFeatures; o++)
                    b[r * p.OutFeatures + o] = p.Scale * p.B[o * p.Rank + r];
            }
            tensors[site.AInput] = (a, [p.InFeatures, p.Rank]);
            tensors[site.BInput] = (b, [p.Rank, p.OutFeatures]);
        }
        var meta = new Dictionary<string, string>(metadata, StringComparer.Ordinal)
        {
            [FormatKey] = Format,
            ["version"] = Version.ToString(),
        };
        return new AdapterFile { Tensors = tensors, Metadata = meta };
    }

    /// <summary>Writes under a temporary name and moves into place when complete.</summary>
    public void Write(string path)
    {
        var names = Tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object> { ["__metadata__"] = Metadata };
        long offset = 0;
        foreach (var name in names)
        {
            var (values, shape) = Tensors[name];
            long bytes = (long)values.Length * sizeof(float);
            header[name] = new { dtype = "F32", shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        string temporary = path + ".partial";
        using (var stream = File.Create(temporary))
        {
            stream.Write(BitConverter.GetBytes((ulong)json.Length));
            stream.Write(json);
            foreach (var name in names)
                stream.Write(MemoryMarshal.AsBytes(Tensors[name].Values.AsSpan()));
        }
        File.Move(temporary, path, overwrite: true);
    }

    public static unsafe AdapterFile Load(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        if (!file.Metadata.TryGetValue(FormatKey, out var format) || format != Format)
            throw new CheckpointException($"{path}: not an owonnx run-time adapter (metadata '{FormatKey}' is not '{Format}'); " +
                "prepare one from a PEFT adapter folder with 'owonnx adapter <adapter-dir> --base <converted-model> --output <file>'.");
        var tensors = new Dictionary<string, (float[], long[])>(StringComparer.Ordinal);
        foreach (var (name, info) in file.Tensors)
        {
            bool isA = name.EndsWith(LoraSite.ASuffix, StringComparison.Ordinal);
            if (info.DType != TensorDType.F32 || info.Shape.Length != 2 || (!isA && !name.EndsWith(LoraSite.BSuffix, StringComparison.Ordinal)))
                throw new CheckpointException($"{path}: tensor '{name}' ({info.DType} {info.ShapeText}) is not a float32 2-D '…{LoraSite.ASuffix}' or '…{LoraSite.BSuffix}' matrix.");
            var values = new float[info.ElementCount];
            new ReadOnlySpan<byte>(file.Pointer(info), (int)info.Length).CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
            tensors[name] = (values, info.Shape);
        }
        foreach (var name in tensors.Keys.Where(n => n.EndsWith(LoraSite.ASuffix, StringComparison.Ordinal)))
        {
            string b = name[..^LoraSite.ASuffix.Length] + LoraSite.BSuffix;
            if (!tensors.TryGetValue(b, out var bt) || bt.Item2[0] != tensors[name].Item2[1])
                throw new CheckpointException($"{path}: '{name}' has no matching '{b}' of rank {tensors[name].Item2[1]}.");
        }
        return new AdapterFile { Tensors = tensors, Metadata = new Dictionary<string, string>(file.Metadata), Path = path };
    }
}
