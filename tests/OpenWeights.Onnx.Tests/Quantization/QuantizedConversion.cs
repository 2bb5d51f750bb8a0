using Google.Protobuf;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Graph;
using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Quantization;
using OpenWeights.Onnx.Tests.Support;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Tests.Quantization;

/// <summary>
/// What ModelConverter does, with <see cref="QuantizedWeights"/> in place of FloatWeights: until the converter
/// takes quantization options, the tests build quantized models this way (model.onnx + model.onnx.data only).
/// </summary>
internal static class QuantizedConversion
{
    public static string Convert(string checkpointDirectory, QuantizationOptions options, string label, bool fake = false)
    {
        string output = SharedFixtures.Scratch($"quant-{Path.GetFileName(checkpointDirectory)}-{label}");
        using var checkpoint = Checkpoint.Open(checkpointDirectory);
        var family = KnownFamilies.All.For(checkpoint.Config.Architecture, checkpoint.Config.Path);
        var model = family.Describe(checkpoint.Config, checkpoint.Generation);
        var weights = family.MapWeights(model, checkpoint.Config);
        var graph = new GraphBuilder();
        using (var data = new ExternalDataWriter(Path.Combine(output, ModelConverter.DataFile), ModelConverter.DataFile))
        using (var reader = new WeightReader(checkpoint))
        {
            var store = new InitializerStore(graph, reader, data, DataType.Float, DataType.Float);
            IWeightFormat format = fake ? new FakeQuantizedWeights(store, options) : new QuantizedWeights(store, options);
            new DecoderGraph(model, weights, store, format).Build();
            data.Flush();
        }
        var proto = new ModelProto { IrVersion = 10, ProducerName = "owonnx-tests", Graph = graph.Graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = GraphBuilder.MicrosoftDomain, Version = 1 });
        using (var stream = File.Create(Path.Combine(output, ModelConverter.ModelFile)))
            proto.WriteTo(stream);
        return output;
    }

    public static ModelProto Load(string directory) =>
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(directory, ModelConverter.ModelFile)));
}
