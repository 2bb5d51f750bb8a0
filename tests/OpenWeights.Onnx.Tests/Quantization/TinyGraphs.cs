using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OpenWeights.Onnx.Graph;
using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Quantization;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Tests.Quantization;

/// <summary>One-node ONNX models with inline initializers, built and run in memory.</summary>
internal static class TinyGraphs
{
    public static TensorProto Tensor<T>(string name, DataType type, ReadOnlySpan<T> values, params long[] dims) where T : unmanaged
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        t.Dims.AddRange(dims);
        return t;
    }

    public static byte[] Model(GraphBuilder g)
    {
        var proto = new ModelProto { IrVersion = 10, ProducerName = "owonnx-tests", Graph = g.Graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = GraphBuilder.MicrosoftDomain, Version = 1 });
        return proto.ToByteArray();
    }

    /// <summary>Y [m, N] = A [m, K] × dequantized(W)ᵀ by one MatMulNBits node.</summary>
    public static byte[] MatMulNBits(QuantizedMatrix q, int accuracyLevel, long[]? dataDims = null, long[]? scaleDims = null)
    {
        var l = q.Layout;
        var g = new GraphBuilder();
        g.Input("A", DataType.Float, "m", l.Columns);
        g.AddInitializer(Tensor<byte>("B", DataType.Uint8, q.Data, dataDims ?? l.DataDims));
        g.AddInitializer(Tensor<float>("scales", DataType.Float, q.Scales, scaleDims ?? l.ScaleDims));
        var inputs = new List<string> { "A", "B", "scales" };
        if (q.ZeroPoints is not null)
        {
            g.AddInitializer(Tensor<byte>("zero_points", DataType.Uint8, q.ZeroPoints, l.ZeroPointDims));
            inputs.Add("zero_points");
        }
        g.OpMulti("MatMulNBits", "mm", inputs, ["Y"], GraphBuilder.MicrosoftDomain,
            Attr.Int("K", l.Columns), Attr.Int("N", l.Rows), Attr.Int("bits", l.Bits),
            Attr.Int("block_size", l.BlockSize), Attr.Int("accuracy_level", accuracyLevel));
        g.Output("Y", DataType.Float, "m", l.Rows);
        return Model(g);
    }

    /// <summary>Runs a model with one float input [rows, cols] and returns its one float output.</summary>
    public static float[] Run(byte[] model, string input, float[] values, long rows, long cols)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model, options);
        using var a = OrtValue.CreateTensorValueFromMemory(values, [rows, cols]);
        using var run = new RunOptions();
        using var outputs = session.Run(run, [input], [a], session.OutputNames);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>Runs a model with one int64 input and returns its one float output.</summary>
    public static float[] RunIds(byte[] model, string input, long[] ids, params long[] shape)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model, options);
        using var a = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var run = new RunOptions();
        using var outputs = session.Run(run, [input], [a], session.OutputNames);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>Y [m, N] = A × Wᵀ in double, W [N, K] row-major.</summary>
    public static double[] Reference(float[] a, int m, float[] w, int n, int k)
    {
        var y = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int t = 0; t < k; t++)
                    sum += (double)a[i * k + t] * w[j * k + t];
                y[i * n + j] = sum;
            }
        return y;
    }

    public static float[] Gaussian(int count, int seed, float sigma = 1f)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            v[i] = sigma * (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return v;
    }
}
