using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Quantization;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Quantization;

/// <summary>
/// Quantized conversions through the real <see cref="ModelConverter"/>; <c>fake</c> builds, through the same
/// pipeline, a float graph of the dequantized weights (<see cref="FakeQuantizedWeights"/>) as a reference.
/// </summary>
internal static class QuantizedConversion
{
    public static string Convert(string checkpointDirectory, QuantizationOptions options, string label, bool fake = false)
    {
        string output = Path.Combine(TestFixtures.Scratch($"quant-{Path.GetFileName(checkpointDirectory)}-{label}"), "model");
        var conversion = new ConversionOptions
        {
            Precision = options.Bits == 8 ? Precision.Int8 : Precision.Int4,
            Quantization = options,
        };
        var converter = new ModelConverter(KnownFamilies.All);
        if (fake)
            converter.Convert(checkpointDirectory, output, conversion, store => new FakeQuantizedWeights(store, options));
        else
            converter.Convert(checkpointDirectory, output, conversion);
        return output;
    }

    public static ModelProto Load(string directory) =>
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(directory, ModelConverter.ModelFile)));
}
