using System.Text;
using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// Writes a Llama-shaped BF16 checkpoint of a chosen size with random weights, tensor by tensor, so that
/// generating it needs no more memory than one row.
/// </summary>
public static class SyntheticCheckpoint
{
    /// <summary>With <paramref name="Experts"/> &gt; 0 a Mixtral checkpoint: each layer's MLP is that many experts of width
    /// <paramref name="Intermediate"/>, <paramref name="PerToken"/> routed per token.</summary>
    public sealed record Shape(int Hidden, int Intermediate, int Layers, int Heads, int KvHeads, int Vocab, int Experts = 0, int PerToken = 2);

    /// <summary>About 1 GB in BF16: 8 layers of a 2048-wide model with a 32k vocabulary.</summary>
    public static readonly Shape OneGigabyte = new(2048, 5504, 8, 16, 8, 32000);

    public static (long Bytes, long LargestTensorBytes) Write(string directory, Shape s)
    {
        Directory.CreateDirectory(directory);
        int headDim = s.Hidden / s.Heads;
        var tensors = new List<(string Name, long[] Shape)> { ("model.embed_tokens.weight", [s.Vocab, s.Hidden]) };
        for (int i = 0; i < s.Layers; i++)
        {
            string p = $"model.layers.{i}";
            tensors.Add(($"{p}.input_layernorm.weight", [s.Hidden]));
            tensors.Add(($"{p}.self_attn.q_proj.weight", [s.Heads * headDim, s.Hidden]));
            tensors.Add(($"{p}.self_attn.k_proj.weight", [s.KvHeads * headDim, s.Hidden]));
            tensors.Add(($"{p}.self_attn.v_proj.weight", [s.KvHeads * headDim, s.Hidden]));
            tensors.Add(($"{p}.self_attn.o_proj.weight", [s.Hidden, s.Heads * headDim]));
            tensors.Add(($"{p}.post_attention_layernorm.weight", [s.Hidden]));
            if (s.Experts > 0)
            {
                tensors.Add(($"{p}.block_sparse_moe.gate.weight", [s.Experts, s.Hidden]));
                for (int e = 0; e < s.Experts; e++)
                {
                    tensors.Add(($"{p}.block_sparse_moe.experts.{e}.w1.weight", [s.Intermediate, s.Hidden]));
                    tensors.Add(($"{p}.block_sparse_moe.experts.{e}.w3.weight", [s.Intermediate, s.Hidden]));
                    tensors.Add(($"{p}.block_sparse_moe.experts.{e}.w2.weight", [s.Hidden, s.Intermediate]));
                }
                continue;
            }
            tensors.Add(($"{p}.mlp.gate_proj.weight", [s.Intermediate, s.Hidden]));
            tensors.Add(($"{p}.mlp.up_proj.weight", [s.Intermediate, s.Hidden]));
            tensors.Add(($"{p}.mlp.down_proj.weight", [s.Hidden, s.Intermediate]));
        }
        tensors.Add(("model.norm.weight", [s.Hidden]));
        tensors.Add(("lm_head.weight", [s.Vocab, s.Hidden]));

        var header = new StringBuilder("{");
        long offset = 0, largest = 0;
        foreach (var (name, shape) in tensors)
        {
            long bytes = shape.Aggregate(2L, (a, b) => a * b);
            header.Append($"\"{name}\":{{\"dtype\":\"BF16\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{offset},{offset + bytes}]}},");
            offset += bytes;
            largest = Math.Max(largest, bytes);
        }
        header.Length--;
        header.Append('}');
        var headerBytes = Encoding.UTF8.GetBytes(header.ToString());

        var random = new Random(42);
        using (var stream = new FileStream(Path.Combine(directory, "model.safetensors"), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            stream.Write(BitConverter.GetBytes((long)headerBytes.Length));
            stream.Write(headerBytes);
            var row = new byte[s.Intermediate * 2];
            foreach (var (_, shape) in tensors)
            {
                long remaining = shape.Aggregate(2L, (a, b) => a * b);
                while (remaining > 0)
                {
                    int n = (int)Math.Min(row.Length, remaining);
                    for (int i = 0; i < n; i += 2)
                    {
                        // BF16 of a small normal-ish value: top half of a float in about ±0.05.
                        float v = (float)(random.NextDouble() - 0.5) * 0.1f;
                        ushort bits = (ushort)(BitConverter.SingleToInt32Bits(v) >> 16);
                        row[i] = (byte)bits;
                        row[i + 1] = (byte)(bits >> 8);
                    }
                    stream.Write(row, 0, n);
                    remaining -= n;
                }
            }
        }

        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(s.Experts > 0 ? "MixtralForCausalLM" : "LlamaForCausalLM"),
            ["model_type"] = s.Experts > 0 ? "mixtral" : "llama",
            ["hidden_size"] = s.Hidden, ["intermediate_size"] = s.Intermediate, ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads, ["num_key_value_heads"] = s.KvHeads, ["vocab_size"] = s.Vocab,
            ["max_position_embeddings"] = 2048, ["rms_norm_eps"] = 1e-5, ["rope_theta"] = 10000.0,
            ["hidden_act"] = "silu", ["tie_word_embeddings"] = false, ["bos_token_id"] = 1, ["eos_token_id"] = 2,
        };
        if (s.Experts > 0)
        {
            config["num_local_experts"] = s.Experts;
            config["num_experts_per_tok"] = s.PerToken;
        }
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString());
        return (new FileInfo(Path.Combine(directory, "model.safetensors")).Length, largest);
    }
}
