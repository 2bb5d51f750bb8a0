using Google.Protobuf;
using OpenWeights.Onnx.Onnx.Proto;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Graph;

/// <summary>An ONNX node attribute, built with the static factories.</summary>
public readonly record struct Attr(AttributeProto Proto)
{
    public static Attr Int(string name, long value) =>
        new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });
    public static Attr Float(string name, float value) =>
        new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });
    public static Attr String(string name, string value) =>
        new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) });
    /// <summary>A subgraph (the branches of an <c>If</c>).</summary>
    public static Attr Graph(string name, GraphProto graph) =>
        new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Graph, G = graph });
    public static Attr Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return new(a);
    }
}

/// <summary>
/// Appends nodes, inputs, outputs and small inline constants to an ONNX graph. It knows ONNX, not
/// transformers: the decoder's structure lives in <see cref="DecoderGraph"/>.
/// </summary>
public sealed class GraphBuilder
{
    public const string MicrosoftDomain = "com.microsoft";

    public GraphProto Graph { get; } = new() { Name = "owonnx" };
    private readonly Dictionary<string, long[]> _int64Constants = new();
    private readonly HashSet<string> _floatConstants = new();

    /// <summary>Adds a node with one output, named after the node; returns the output's name.</summary>
    public string Op(string opType, string name, IEnumerable<string> inputs, params Attr[] attributes) =>
        OpMulti(opType, name, inputs, [name + "/out"], "", attributes)[0];

    public string MsOp(string opType, string name, IEnumerable<string> inputs, params Attr[] attributes) =>
        OpMulti(opType, name, inputs, [name + "/out"], MicrosoftDomain, attributes)[0];

    /// <summary>Adds a node with explicitly named outputs ("" marks an output that is not used).</summary>
    public string[] OpMulti(string opType, string name, IEnumerable<string> inputs, string[] outputs,
        string domain = "", params Attr[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        if (domain.Length > 0)
            node.Domain = domain;
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        foreach (var a in attributes)
            node.Attribute.Add(a.Proto);
        Graph.Node.Add(node);
        return outputs;
    }

    /// <summary>An int64 constant kept inline (ORT refuses some shape/axes inputs stored externally).</summary>
    public string Int64s(params long[] values)
    {
        string name = "const/i64/" + string.Join("_", values).Replace('-', 'm');
        if (_int64Constants.TryAdd(name, values))
        {
            var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
            t.Dims.Add(values.Length);
            t.Int64Data.AddRange(values);
            Graph.Initializer.Add(t);
        }
        return name;
    }

    /// <summary>A scalar (rank-0) int64 constant.</summary>
    public string Int64Scalar(long value)
    {
        string name = "const/i64s/" + value.ToString().Replace('-', 'm');
        if (_int64Constants.TryAdd(name, [value]))
        {
            var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
            t.Int64Data.Add(value);
            Graph.Initializer.Add(t);
        }
        return name;
    }

    /// <summary>A scalar (rank-0) float32 constant kept inline.</summary>
    public string FloatScalar(float value)
    {
        string name = "const/f32s/" + BitConverter.SingleToInt32Bits(value).ToString("x8");
        if (_floatConstants.Add(name))
        {
            var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
            t.FloatData.Add(value);
            Graph.Initializer.Add(t);
        }
        return name;
    }

    public void AddInitializer(TensorProto tensor) => Graph.Initializer.Add(tensor);

    public void Input(string name, DataType type, params object[] dims) => Graph.Input.Add(ValueInfo(name, type, dims));

    public void Output(string name, DataType type, params object[] dims) => Graph.Output.Add(ValueInfo(name, type, dims));

    /// <summary>A tensor value; each dim is an int (static) or a string (symbolic).</summary>
    public static ValueInfoProto ValueInfo(string name, DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d switch
            {
                int i => new TensorShapeProto.Types.Dimension { DimValue = i },
                long l => new TensorShapeProto.Types.Dimension { DimValue = l },
                string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                _ => throw new ArgumentException($"dimension {d} must be int, long or string"),
            });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
