using System.Text.Json;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Weights;

/// <summary>
/// The adapter extension point (<see cref="LinearWeights.Adapter"/>, <c>IWeightFormat.Adapter</c>) against
/// transformers + peft: the llama fixture with its LoRA adapter (tests/fixtures/lora/llama-lora, scale
/// lora_alpha / r) mapped onto all seven projections of every layer, converted, run by ONNX Runtime.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class AdapterParityTests
{
    private static string Adapter => TestFixtures.Lora("llama-lora");

    [TestMethod]
    public void Fp32LoraPromptLogitsMatchPeft()
    {
        var (diff, fromBase) = Compare(Precision.Fp32);
        Assert.IsLessThanOrEqualTo(1e-4f, diff);
        Assert.IsGreaterThan(1f, fromBase, "the adapter must matter");
    }

    /// <summary>
    /// Adapters stay float beside quantized bases. The random fixture's INT8 noise is ~0.2 in logits, so the check
    /// is that the adapter is applied: peft's logits are much closer than the base model's (≈ 4.4 away).
    /// </summary>
    [TestMethod]
    public void Int8LoraFollowsPeftNotTheBase()
    {
        var (diff, fromBase) = Compare(Precision.Int8);
        Assert.IsLessThan(fromBase / 10, diff);
    }

    private static (float Diff, float FromBase) Compare(Precision precision)
    {
        string output = Path.Combine(TestFixtures.Scratch("lora-" + precision), "model");
        var families = new ModelFamilies([new WithAdapters(new Llama(), Scale())]);
        new ModelConverter(families).Convert(CheckpointWithAdapter(), output, new ConversionOptions { Precision = precision });

        using var reference = ReferenceTensors.For(Adapter);
        using var session = new OrtDecoderSession(output);
        var logits = session.Forward(reference.Longs("input_ids"));
        float diff = Logits.MaxAbsDiff(logits, reference.Floats("full_logits"));
        float fromBase = Logits.MaxAbsDiff(reference.Floats("base_full_logits"), reference.Floats("full_logits"));
        Console.WriteLine($"llama + LoRA {precision}: max |Δlogit| = {diff:E2} (base vs adapted: {fromBase:E2})");
        return (diff, fromBase);
    }

    private static float Scale()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(Adapter, "adapter_config.json")));
        var root = config.RootElement;
        Assert.IsFalse(root.GetProperty("use_rslora").GetBoolean());
        return root.GetProperty("lora_alpha").GetSingle() / root.GetProperty("r").GetSingle();
    }

    /// <summary>The base checkpoint and the adapter's file as two shards of one checkpoint.</summary>
    private static string CheckpointWithAdapter()
    {
        string dir = TestFixtures.Scratch("llama-with-lora");   // a fresh folder per call
        string llama = TestFixtures.Hf("llama");
        foreach (var file in new[] { "config.json", "generation_config.json", "model.safetensors" })
            File.Copy(Path.Combine(llama, file), Path.Combine(dir, file));
        File.Copy(Path.Combine(Adapter, "adapter_model.safetensors"), Path.Combine(dir, "adapter.safetensors"));
        var map = new Dictionary<string, string>();
        foreach (var shard in new[] { "model.safetensors", "adapter.safetensors" })
        {
            using var file = SafeTensorsFile.Open(Path.Combine(dir, shard));
            foreach (var name in file.Tensors.Keys)
                map[name] = shard;
        }
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), JsonSerializer.Serialize(new { weight_map = map }));
        return dir;
    }

    /// <summary>A family that maps peft's tensor names onto every projection: what an adapter loader will do.</summary>
    private sealed class WithAdapters(IModelFamily inner, float scale) : IModelFamily
    {
        public IReadOnlyList<string> Architectures => inner.Architectures;

        public ModelDescription Describe(HfConfig config, GenerationConfig generation) => inner.Describe(config, generation);

        public DecoderWeights MapWeights(ModelDescription model, HfConfig config) => MapWeights(model, config, _ => true);

        public DecoderWeights MapWeights(ModelDescription model, HfConfig config, Func<string, bool> hasTensor)
        {
            var w = inner.MapWeights(model, config, hasTensor);
            return w with
            {
                Layers = w.Layers.Select((l, i) => l with
                {
                    Q = Adapt(l.Q, i, "self_attn.q_proj"), K = Adapt(l.K, i, "self_attn.k_proj"),
                    V = Adapt(l.V, i, "self_attn.v_proj"), O = Adapt(l.O, i, "self_attn.o_proj"),
                    Gate = Adapt(l.Gate!, i, "mlp.gate_proj"), Up = Adapt(l.Up!, i, "mlp.up_proj"), Down = Adapt(l.Down!, i, "mlp.down_proj"),
                }).ToArray(),
            };
        }

        private LinearWeights Adapt(LinearWeights linear, int layer, string module)
        {
            string prefix = $"base_model.model.model.layers.{layer}.{module}";
            return linear with { Adapter = new AdapterWeights(new WeightRef(prefix + ".lora_A.weight"), new WeightRef(prefix + ".lora_B.weight"), scale) };
        }
    }
}
