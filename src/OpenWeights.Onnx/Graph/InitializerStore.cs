using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Weights;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Graph;

/// <summary>
/// Turns checkpoint weights into graph initializers as the graph is built: each weight is read, written to
/// the external data file and forgotten before the next one, which is what keeps conversion streaming.
/// Weights stored in a narrower type than the graph computes in get a Cast that ONNX Runtime folds at load.
/// </summary>
public sealed class InitializerStore(GraphBuilder graph, WeightReader reader, ExternalDataWriter data,
    DataType storage, DataType compute, IProgress<ConversionProgress>? progress = null)
{
    private readonly ConversionProgress _progress = new();

    public GraphBuilder Graph => graph;
    public WeightReader Reader => reader;
    public DataType Compute => compute;
    public ConversionProgress Progress => _progress;

    /// <summary>A 1-D weight; <paramref name="offset"/> is added to every element (Gemma's 1+w norms).</summary>
    public string Vector(WeightRef w, string name, int length, float offset = 0f)
    {
        var values = reader.Vector(w, length);
        if (offset != 0f)
            System.Numerics.Tensors.TensorPrimitives.Add(values, offset, values);
        return Floats(name, values, length);
    }

    /// <summary>A matrix as [in, out] (for MatMul) or [out, in].</summary>
    public string Matrix(WeightRef w, string name, int outFeatures, int inFeatures, bool inputMajor)
    {
        var values = reader.Matrix(w, inputMajor, outFeatures, inFeatures);
        return inputMajor
            ? Floats(name, values, inFeatures, outFeatures)
            : Floats(name, values, outFeatures, inFeatures);
    }

    /// <summary>Float values (weights or derived tables) in the storage type, returned in the compute type.</summary>
    public string Floats(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        graph.AddInitializer(data.WriteFloats(name, storage, dims, values));
        Count(values.Length, values.Length * ExternalDataWriter.ElementSize(storage));
        return storage == compute ? name : graph.Op("Cast", name + "/cast", [name], Attr.Int("to", (long)compute));
    }

    /// <summary>One part of a stacked tensor (one expert's values), valid until the next part is asked for.</summary>
    public delegate ReadOnlySpan<float> FloatPart(int index);

    /// <summary>One part of a stacked tensor in its stored encoding (one expert's quantized blocks).</summary>
    public delegate ReadOnlySpan<byte> BytePart(int index);

    /// <summary>
    /// <paramref name="count"/> float parts of equal shape written back to back as one initializer
    /// [count, ..<paramref name="partDims"/>] in the storage type, one part in memory at a time.
    /// </summary>
    public string FloatStack(string name, int count, long[] partDims, FloatPart part)
    {
        long partElements = partDims.Aggregate(1L, (a, b) => a * b);
        long bytes = count * partElements * ExternalDataWriter.ElementSize(storage);
        long offset = data.Begin(bytes);
        for (int i = 0; i < count; i++)
        {
            var values = part(i);
            if (values.Length != partElements)
                throw new InvalidOperationException($"{name}: part {i} has {values.Length} values, not {partElements}.");
            data.AppendFloats(storage, values);
        }
        var tensor = data.End(name, storage, [count, .. partDims], offset);
        graph.AddInitializer(tensor);
        Count(count * partElements, bytes);
        return storage == compute ? name : graph.Op("Cast", name + "/cast", [name], Attr.Int("to", (long)compute));
    }

    /// <summary>Encoded parts of <paramref name="partBytes"/> bytes each written back to back as one initializer [count, ..<paramref name="partDims"/>].</summary>
    public string RawStack(string name, DataType type, int count, long[] partDims, long partBytes, long parametersPerPart, BytePart part)
    {
        long offset = data.Begin(count * partBytes);
        for (int i = 0; i < count; i++)
        {
            var bytes = part(i);
            if (bytes.Length != partBytes)
                throw new InvalidOperationException($"{name}: part {i} has {bytes.Length} bytes, not {partBytes}.");
            data.Append(bytes);
        }
        graph.AddInitializer(data.End(name, type, [count, .. partDims], offset));
        Count(count * parametersPerPart, count * partBytes);
        return name;
    }

    /// <summary>Pre-encoded bytes (quantized blocks, scales) stored as they are.</summary>
    public string Raw(string name, DataType type, ReadOnlySpan<byte> bytes, long parameters, params long[] dims)
    {
        graph.AddInitializer(data.Write(name, type, dims, bytes));
        Count(parameters, bytes.Length);
        return name;
    }

    private void Count(long parameters, long bytes)
    {
        _progress.Tensors++;
        _progress.Parameters += parameters;
        _progress.Bytes += bytes;
        _progress.ElementsRead = reader.ElementsRead;
        progress?.Report(_progress);
    }
}
