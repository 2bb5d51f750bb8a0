using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// A small random checkpoint built in memory and written in the Hugging Face layout (config.json +
/// model.safetensors), for families or features that have no transformers fixture. Weights follow the
/// fixtures' recipe (σ = 0.15, large enough that attention is far from uniform).
/// </summary>
public sealed class TinyCheckpoint
{
    private readonly Random _random;
    private readonly List<(string Name, long[] Shape, float[] Values)> _order = new();

    public JsonObject Config { get; }
    public Dictionary<string, float[]> Tensors { get; } = new();

    public TinyCheckpoint(JsonObject config, int seed)
    {
        Config = config;
        _random = new Random(seed);
    }

    /// <summary>A checkpoint folder read back (config and every tensor as float32), e.g. a shared fixture.</summary>
    public static unsafe TinyCheckpoint Load(string directory)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "config.json")))!.AsObject();
        var checkpoint = new TinyCheckpoint(config, 0);
        using var file = OpenWeights.Onnx.Checkpoints.SafeTensorsFile.Open(Path.Combine(directory, "model.safetensors"));
        foreach (var (name, info) in file.Tensors)
        {
            var values = new float[info.ElementCount];
            OpenWeights.Onnx.Checkpoints.FloatConversion.ToSingle(
                new ReadOnlySpan<byte>(file.Pointer(info), (int)info.Length), info.DType, values);
            checkpoint.Tensors[name] = values;
        }
        return checkpoint;
    }

    public int Int(string field) => Config[field]!.GetValue<int>();

    public float[] Normal(string name, float std, params long[] shape) =>
        Add(name, shape, i => std * Gaussian());

    public float[] Uniform(string name, float low, float high, params long[] shape) =>
        Add(name, shape, i => low + (high - low) * (float)_random.NextDouble());

    public float[] Floats(int count, float low, float high) =>
        Enumerable.Range(0, count).Select(_ => low + (high - low) * (float)_random.NextDouble()).ToArray();

    public long[] Tokens(int count, int vocab) => Enumerable.Range(0, count).Select(_ => (long)_random.Next(vocab)).ToArray();

    private float[] Add(string name, long[] shape, Func<int, float> value)
    {
        var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < values.Length; i++) values[i] = value(i);
        Tensors[name] = values;
        _order.Add((name, shape, values));
        return values;
    }

    private float Gaussian()
    {
        double u1 = 1.0 - _random.NextDouble(), u2 = _random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    /// <summary>Writes the checkpoint into a fresh scratch folder and returns it.</summary>
    public string Write(string name)
    {
        string dir = TestFixtures.Scratch(name);
        File.WriteAllText(Path.Combine(dir, "config.json"), Config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        SafeTensorsWriter.WriteFloats(Path.Combine(dir, "model.safetensors"), _order.ToArray());
        return dir;
    }
}
