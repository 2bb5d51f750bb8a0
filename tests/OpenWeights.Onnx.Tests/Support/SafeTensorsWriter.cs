using System.Text;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>Writes SafeTensors files byte by byte, including deliberately broken ones.</summary>
public static class SafeTensorsWriter
{
    public static void Write(string path, string headerJson, byte[] data, long? headerLengthOverride = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes(headerLengthOverride ?? header.LongLength));
        stream.Write(header);
        stream.Write(data);
    }

    /// <summary>A valid file of float32 tensors laid out back to back.</summary>
    public static void WriteFloats(string path, params (string Name, long[] Shape, float[] Values)[] tensors)
    {
        var entries = new List<string>();
        var data = new List<byte>();
        foreach (var (name, shape, values) in tensors)
        {
            int begin = data.Count;
            foreach (var v in values) data.AddRange(BitConverter.GetBytes(v));
            entries.Add($"\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{begin},{data.Count}]}}");
        }
        Write(path, "{" + string.Join(",", entries) + "}", data.ToArray());
    }
}
