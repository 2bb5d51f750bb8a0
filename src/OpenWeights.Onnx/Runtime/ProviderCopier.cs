using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OpenWeights.Onnx.Onnx.Proto;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// Copies ranges between buffers the host cannot touch (device memory) by running a graph of Identity nodes on
/// the provider that owns them, through an I/O binding of views of those ranges: the provider's own kernel does
/// the device-to-device copy (CUDA: <c>cudaMemcpyAsync</c> on its stream) and nothing passes through the host.
/// One run copies <see cref="Count"/> ranges (a KV cache copies every layer's keys and values at once).
/// </summary>
/// <remarks>
/// Why not <c>OrtEnv.CopyTensors</c>: it copies with the data transfers of execution-provider libraries
/// registered in the environment (plugin EPs), which the CUDA provider appended to a session's options is not.
/// A session of its own on the same provider and device needs nothing the decoder does not already load.
/// The CPU provider runs the same graph with host memory, which is how this path is tested without a GPU.
/// </remarks>
public sealed class ProviderCopier : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly OrtMemoryInfo _memory;
    private readonly TensorElementType _type;
    private readonly int _elementSize;

    /// <summary>Ranges copied by one <see cref="Copy"/>.</summary>
    public int Count { get; }

    public ProviderCopier(ExecutionTarget target, GpuOptions gpu, OrtMemoryInfo memory, TensorElementType type, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        Count = count;
        _memory = memory;
        _type = type;
        _elementSize = DecoderIo.SizeOf(type);
        _session = SessionFactory.CreateForCopies(IdentityGraph(type, count), target, gpu);
    }

    /// <summary>An ONNX model with <paramref name="count"/> 1-D inputs x{i} each copied to y{i} by an Identity node.</summary>
    internal static byte[] IdentityGraph(TensorElementType type, int count)
    {
        var graph = new GraphProto { Name = "owonnx_copy" };
        for (int i = 0; i < count; i++)
        {
            graph.Input.Add(Vector($"x{i}", type, $"n{i}"));
            graph.Output.Add(Vector($"y{i}", type, $"n{i}"));
            var node = new NodeProto { OpType = "Identity", Name = $"copy{i}" };
            node.Input.Add($"x{i}");
            node.Output.Add($"y{i}");
            graph.Node.Add(node);
        }
        var model = new ModelProto { IrVersion = 10, ProducerName = "owonnx", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        return model.ToByteArray();
    }

    private static ValueInfoProto Vector(string name, TensorElementType type, string length)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = length });
        // ONNX's element type numbers are ONNX Runtime's TensorElementType values.
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    /// <summary>
    /// Copies <paramref name="elements"/>[i] elements from <paramref name="sources"/>[i] to
    /// <paramref name="destinations"/>[i] (addresses in the copier's memory; ranges must not overlap), in one run.
    /// </summary>
    public void Copy(ReadOnlySpan<nint> sources, ReadOnlySpan<nint> destinations, ReadOnlySpan<long> elements)
    {
        if (sources.Length != Count || destinations.Length != Count || elements.Length != Count)
            throw new ArgumentException($"a copy takes exactly {Count} ranges.");
        using var binding = _session.CreateIoBinding();
        var views = new List<OrtValue>(2 * Count);
        try
        {
            for (int i = 0; i < Count; i++)
            {
                if (elements[i] == 0)
                    throw new ArgumentException($"range {i} is empty: every range of a copy must hold at least one element.");
                long bytes = elements[i] * _elementSize;
                var x = OrtValue.CreateTensorValueWithData(_memory, _type, [elements[i]], sources[i], bytes);
                views.Add(x);
                var y = OrtValue.CreateTensorValueWithData(_memory, _type, [elements[i]], destinations[i], bytes);
                views.Add(y);
                binding.BindInput($"x{i}", x);
                binding.BindOutput($"y{i}", y);
            }
            _session.RunWithBinding(_runOptions, binding);
        }
        finally
        {
            foreach (var v in views) v.Dispose();
        }
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}
