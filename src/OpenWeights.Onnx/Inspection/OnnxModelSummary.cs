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
    IReadOnlyDictionary<string, string> Metadata)
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
        long externalBytes = graph.Initializer
            .Where(t => t.DataLocation == TensorProto.Types.DataLocation.External)
            .Sum(t => long.Parse(t.ExternalData.First(e => e.Key == "length").Value));

        return new OnnxModelSummary(
            directory,
            graph.Input.Select(Signature).ToList(),
            graph.Output.Select(Signature).ToList(),
            ops,
            graph.Initializer.Count,
            graph.Initializer.Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b)),
            externalBytes,
            new FileInfo(path).Length,
            model.MetadataProps.ToDictionary(p => p.Key, p => p.Value));
    }

    private static TensorSignature Signature(ValueInfoProto v)
    {
        var t = v.Type.TensorType;
        string dims = "[" + string.Join(", ", t.Shape.Dim.Select(d => d.HasDimValue ? d.DimValue.ToString() : d.DimParam)) + "]";
        return new TensorSignature(v.Name, ((DataType)t.ElemType).ToString().ToLowerInvariant(), dims);
    }
}
