using OpenWeights.Onnx.Onnx.Proto;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Inspection;

public sealed record TensorSignature(string Name, string ElementType, string Shape);

/// <summary>What a converted model folder holds: its graph's interface, operators and weight storage.</summary>
public sealed record OnnxModelSummary(
    string Directory,
    IReadOnlyList<TensorSignature> Inputs,
    IReadOnlyList<TensorSignature> Outputs,
    IReadOnlyDictionary<string, int> OperatorCounts,
    int Initializers,
    long InitializerElements,
    long ExternalDataBytes,
    long ModelFileBytes,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyDictionary<string, long> BytesByComponent,
    double? BitsPerWeight)
{
    public static OnnxModelSummary Read(string directory, string modelFile = "model.onnx")
    {
        string path = Path.Combine(directory, modelFile);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{directory}: not a converted model folder ({modelFile} not found).", path);
        ModelProto model;
        using (var stream = File.OpenRead(path))
        {
            try { model = ModelProto.Parser.ParseFrom(stream); }
            catch (Google.Protobuf.InvalidProtocolBufferException e)
            {
                throw new InvalidDataException($"{path}: not an ONNX model ({e.Message}).", e);
            }
        }

        var graph = model.Graph;
        var ops = graph.Node
            .GroupBy(n => string.IsNullOrEmpty(n.Domain) ? n.OpType : $"{n.Domain}.{n.OpType}")
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count());
        // A tied, quantized table is one span of bytes named twice (Gather and LM head): count spans once.
        var spans = new Dictionary<(long Offset, long Length), string>();
        var byComponent = new Dictionary<string, long>();
        long rotaryElements = 0;
        foreach (var t in graph.Initializer)
        {
            string component = Component(t.Name);
            if (component == "rotary tables")
                rotaryElements += t.Dims.Aggregate(1L, (a, b) => a * b);
            long length;
            if (t.DataLocation == TensorProto.Types.DataLocation.External)
            {
                long offset = long.Parse(t.ExternalData.First(e => e.Key == "offset").Value);
                length = long.Parse(t.ExternalData.First(e => e.Key == "length").Value);
                if (!spans.TryAdd((offset, length), t.Name))
                    continue;
            }
            else
            {
                length = t.RawData.Length + 4L * t.FloatData.Count + 8L * t.Int64Data.Count + 4L * t.Int32Data.Count;
            }
            byComponent[component] = byComponent.GetValueOrDefault(component) + length;
        }
        long externalBytes = spans.Keys.Sum(s => s.Length);
        long weightBytes = byComponent.Where(kv => kv.Key is not ("rotary tables" or "constants")).Sum(kv => kv.Value);
        double? bitsPerWeight = model.MetadataProps.FirstOrDefault(p => p.Key == "owonnx.parameters") is { } p
                                && long.TryParse(p.Value, out long parameters) && parameters > rotaryElements
            ? weightBytes * 8.0 / (parameters - rotaryElements)
            : null;

        return new OnnxModelSummary(
            directory,
            graph.Input.Select(Signature).ToList(),
            graph.Output.Select(Signature).ToList(),
            ops,
            graph.Initializer.Count,
            graph.Initializer.Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b)),
            externalBytes,
            new FileInfo(path).Length,
            model.MetadataProps.ToDictionary(p => p.Key, p => p.Value),
            byComponent.OrderByDescending(kv => kv.Value).ToDictionary(kv => kv.Key, kv => kv.Value),
            bitsPerWeight);
    }

    /// <summary>Which part of the model an initializer belongs to, from the names DecoderGraph gives.</summary>
    private static string Component(string name) => name switch
    {
        _ when name.StartsWith("const/", StringComparison.Ordinal) => "constants",
        _ when name.StartsWith("rotary", StringComparison.Ordinal) => "rotary tables",
        _ when name.StartsWith("embed_", StringComparison.Ordinal) => "embeddings",
        _ when name.StartsWith(Graph.DecoderGraph.LmHeadName, StringComparison.Ordinal) => "lm head",
        _ when name.Contains("norm", StringComparison.Ordinal) => "norms",
        _ when name.Contains(".attn.", StringComparison.Ordinal) => "attention",
        _ when name.Contains(".mlp.", StringComparison.Ordinal) => "mlp",
        _ => "other",
    };

    private static TensorSignature Signature(ValueInfoProto v)
    {
        var t = v.Type.TensorType;
        string dims = "[" + string.Join(", ", t.Shape.Dim.Select(d => d.HasDimValue ? d.DimValue.ToString() : d.DimParam)) + "]";
        return new TensorSignature(v.Name, ((DataType)t.ElemType).ToString().ToLowerInvariant(), dims);
    }
}
