using System.Runtime.InteropServices;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>The tensors transformers computed for a fixture (<c>reference.safetensors</c>).</summary>
public sealed unsafe class ReferenceTensors : IDisposable
{
    private readonly SafeTensorsFile _file;

    public ReferenceTensors(string path) => _file = SafeTensorsFile.Open(path);

    public static ReferenceTensors For(string fixtureDirectory) =>
        new(Path.Combine(fixtureDirectory, "reference.safetensors"));

    public bool Has(string name) => _file.Tensors.ContainsKey(name);

    public long[] Shape(string name) => _file.Tensors[name].Shape;

    public float[] Floats(string name)
    {
        var info = _file.Tensors[name];
        var result = new float[info.ElementCount];
        FloatConversion.ToSingle(new ReadOnlySpan<byte>(_file.Pointer(info), (int)info.Length), info.DType, result);
        return result;
    }

    public long[] Longs(string name)
    {
        var info = _file.Tensors[name];
        var bytes = new ReadOnlySpan<byte>(_file.Pointer(info), (int)info.Length);
        return info.DType switch
        {
            TensorDType.I64 => MemoryMarshal.Cast<byte, long>(bytes).ToArray(),
            TensorDType.I32 => MemoryMarshal.Cast<byte, int>(bytes).ToArray().Select(x => (long)x).ToArray(),
            _ => throw new InvalidDataException($"{name} is {info.DType}, not an integer tensor"),
        };
    }

    public void Dispose() => _file.Dispose();
}
