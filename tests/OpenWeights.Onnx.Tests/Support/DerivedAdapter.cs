using System.Text.Json;
using OpenWeights.Onnx.Adapters;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// A PEFT LoRA adapter folder made up for a Llama-shaped checkpoint that no reference adapter exists for (the
/// built-in sample): seeded Gaussian A and B on every attention and MLP projection, saved with peft's names and
/// config. Its effect is checked through an independent path (merged at conversion), not against transformers.
/// </summary>
public static class DerivedAdapter
{
    public static string Write(string checkpointDirectory, int rank, double alpha, int seed, float sigma)
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpointDirectory, "config.json")));
        var c = config.RootElement;
        int hidden = c.GetProperty("hidden_size").GetInt32();
        int heads = c.GetProperty("num_attention_heads").GetInt32();
        int kvHeads = c.GetProperty("num_key_value_heads").GetInt32();
        int headDim = c.TryGetProperty("head_dim", out var hd) ? hd.GetInt32() : hidden / heads;
        int inter = c.GetProperty("intermediate_size").GetInt32();
        int layers = c.GetProperty("num_hidden_layers").GetInt32();
        var modules = new (string Name, int Out, int In)[]
        {
            ("self_attn.q_proj", heads * headDim, hidden), ("self_attn.k_proj", kvHeads * headDim, hidden),
            ("self_attn.v_proj", kvHeads * headDim, hidden), ("self_attn.o_proj", hidden, heads * headDim),
            ("mlp.gate_proj", inter, hidden), ("mlp.up_proj", inter, hidden), ("mlp.down_proj", hidden, inter),
        };
        var random = new Random(seed);
        float[] Gaussian(int n)
        {
            var v = new float[n];
            for (int i = 0; i < n; i++)
                v[i] = sigma * (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
            return v;
        }
        var tensors = new List<(string, long[], float[])>();
        for (int l = 0; l < layers; l++)
            foreach (var (name, outF, inF) in modules)
            {
                string prefix = $"base_model.model.model.layers.{l}.{name}";
                tensors.Add(($"{prefix}.lora_A.weight", [rank, inF], Gaussian(rank * inF)));
                tensors.Add(($"{prefix}.lora_B.weight", [outF, rank], Gaussian(outF * rank)));
            }
        string dir = TestFixtures.Scratch("derived-adapter");
        SafeTensorsWriter.WriteFloats(Path.Combine(dir, LoraAdapter.WeightsFile), tensors.ToArray());
        File.WriteAllText(Path.Combine(dir, LoraConfig.FileName), JsonSerializer.Serialize(new
        {
            peft_type = "LORA", r = rank, lora_alpha = alpha, use_rslora = false, bias = "none", fan_in_fan_out = false,
            target_modules = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" },
            task_type = "CAUSAL_LM", use_dora = false, modules_to_save = (string[]?)null,
        }));
        return dir;
    }
}
