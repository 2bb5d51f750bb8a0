using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Graph;
using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Weights;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Tests.Weights;

/// <summary>
/// A small graph written through the converter's own weight path (checkpoint → <see cref="WeightReader"/> →
/// <see cref="InitializerStore"/> → external data) and run by ONNX Runtime, which reads back what was written.
/// </summary>
internal sealed class WeightGraph : IDisposable
{
    private readonly string _directory;
    private readonly Checkpoint _checkpoint;
    private readonly WeightReader _reader;
    private readonly ExternalDataWriter _data;

    public GraphBuilder Graph { get; } = new();
    public InitializerStore Store { get; }

    public WeightGraph(string name, params (string Name, long[] Shape, float[] Values)[] tensors)
    {
        _directory = TestFixtures.Scratch(name);
        File.WriteAllText(Path.Combine(_directory, "config.json"), """{"architectures":["LlamaForCausalLM"]}""");
        SafeTensorsWriter.WriteFloats(Path.Combine(_directory, "model.safetensors"), tensors);
        _checkpoint = Checkpoint.Open(_directory);
        _reader = new WeightReader(_checkpoint);
        _data = new ExternalDataWriter(Path.Combine(_directory, "graph.onnx.data"), "graph.onnx.data");
        Store = new InitializerStore(Graph, _reader, _data, DataType.Float, DataType.Float);
    }

    public WeightReader Reader => _reader;

    /// <summary>Marks <paramref name="value"/> as a graph output named <paramref name="output"/> (through an Identity).</summary>
    public void Output(string value, string output, DataType type)
    {
        Graph.OpMulti("Identity", output + "/Identity", [value], [output]);
        // No shape: ORT reports what it computed, whatever the rank.
        Graph.Graph.Output.Add(new ValueInfoProto { Name = output, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } } });
    }

    /// <summary>Writes the model and runs it; returns every output as float or byte arrays, by name.</summary>
    public Dictionary<string, Array> Run(params (string Name, float[] Values, long[] Shape)[] inputs)
    {
        _data.Flush();
        string path = Path.Combine(_directory, "graph.onnx");
        var proto = new ModelProto { IrVersion = 10, ProducerName = "owonnx-tests", Graph = Graph.Graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = GraphBuilder.MicrosoftDomain, Version = 1 });
        File.WriteAllBytes(path, proto.ToByteArray());

        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(path, options);
        var values = inputs.Select(i => OrtValue.CreateTensorValueFromMemory(i.Values, i.Shape)).ToList();
        try
        {
            using var run = new RunOptions();
            using var outputs = session.Run(run, inputs.Select(i => i.Name).ToArray(), values, session.OutputNames);
            var result = new Dictionary<string, Array>();
            for (int i = 0; i < outputs.Count; i++)
                result[session.OutputNames[i]] = outputs[i].GetTensorTypeAndShape().ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.UInt8
                    ? outputs[i].GetTensorDataAsSpan<byte>().ToArray()
                    : outputs[i].GetTensorDataAsSpan<float>().ToArray();
            return result;
        }
        finally
        {
            values.ForEach(v => v.Dispose());
        }
    }

    public void Dispose()
    {
        _data.Dispose();
        _reader.Dispose();
        _checkpoint.Dispose();
    }
}
