using System.Text.Json.Nodes;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Families;

/// <summary>
/// Qwen3-MoE has no transformers fixture: a tiny random Qwen3MoeForCausalLM checkpoint is checked against
/// <see cref="ReferenceDecoder.LlamaStyle"/> — Qwen3's attention (per-head q/k RMSNorm before rotary, head_dim 32 ≠
/// hidden/heads) with Qwen2-MoE's routed experts and no shared expert (transformers' Qwen3MoeSparseMoeBlock),
/// norm_topk_prob true as in the released models, layer 0 dense by mlp_only_layers, 8 experts top-2.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class Qwen3MoeTests
{
    private const float Fp32Tolerance = 1e-4f;
    private const int Vocab = 128, Total = 24, Hidden = 64, HeadDim = 32;
    private static readonly Lazy<(TinyCheckpoint Checkpoint, string Converted)> Model = new(Build);

    private static (TinyCheckpoint, string) Build()
    {
        const int heads = 4, kvHeads = 2, inter = 96, moeInter = 32, experts = 8, layers = 3;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("Qwen3MoeForCausalLM"),
            ["model_type"] = "qwen3_moe",
            ["hidden_size"] = Hidden, ["intermediate_size"] = inter, ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = heads, ["num_key_value_heads"] = kvHeads, ["head_dim"] = HeadDim,
            ["vocab_size"] = Vocab, ["max_position_embeddings"] = 64, ["rms_norm_eps"] = 1e-6, ["rope_theta"] = 1000000.0,
            ["rope_scaling"] = null, ["hidden_act"] = "silu", ["attention_bias"] = false, ["use_sliding_window"] = false,
            ["num_experts"] = experts, ["num_experts_per_tok"] = 2, ["norm_topk_prob"] = true, ["moe_intermediate_size"] = moeInter,
            ["decoder_sparse_step"] = 1, ["mlp_only_layers"] = new JsonArray(0),
            ["tie_word_embeddings"] = false, ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["torch_dtype"] = "float32",
        };
        var c = new TinyCheckpoint(config, 5101);
        c.Normal("model.embed_tokens.weight", 0.15f, Vocab, Hidden);
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}";
            c.Uniform($"{p}.input_layernorm.weight", 0.5f, 1.5f, Hidden);
            c.Normal($"{p}.self_attn.q_proj.weight", 0.15f, heads * HeadDim, Hidden);
            c.Normal($"{p}.self_attn.k_proj.weight", 0.15f, kvHeads * HeadDim, Hidden);
            c.Normal($"{p}.self_attn.v_proj.weight", 0.15f, kvHeads * HeadDim, Hidden);
            c.Normal($"{p}.self_attn.o_proj.weight", 0.15f, Hidden, heads * HeadDim);
            c.Uniform($"{p}.self_attn.q_norm.weight", 0.5f, 1.5f, HeadDim);
            c.Uniform($"{p}.self_attn.k_norm.weight", 0.5f, 1.5f, HeadDim);
            c.Uniform($"{p}.post_attention_layernorm.weight", 0.5f, 1.5f, Hidden);
            if (l == 0)
            {
                Mlp(c, $"{p}.mlp", inter);
                continue;
            }
            c.Normal($"{p}.mlp.gate.weight", 0.3f, experts, Hidden);
            for (int e = 0; e < experts; e++)
                Mlp(c, $"{p}.mlp.experts.{e}", moeInter);
        }
        c.Uniform("model.norm.weight", 0.5f, 1.5f, Hidden);
        c.Normal("lm_head.weight", 0.15f, Vocab, Hidden);
        return (c, ConvertedFixtures.Get(c.Write("qwen3moe")));
    }

    private static void Mlp(TinyCheckpoint c, string prefix, int inter)
    {
        c.Normal($"{prefix}.gate_proj.weight", 0.15f, inter, Hidden);
        c.Normal($"{prefix}.up_proj.weight", 0.15f, inter, Hidden);
        c.Normal($"{prefix}.down_proj.weight", 0.15f, Hidden, inter);
    }

    private static long[] Prompt => new TinyCheckpoint(new JsonObject(), 19).Tokens(12, Vocab);

    private static float[] Reference(TinyCheckpoint c, long[] ids) =>
        ReferenceDecoder.LlamaStyle(c, ids, RopeReference.Default(1000000.0, HeadDim));

    [TestMethod]
    public void ExpertsRunInTheSparseLayersWithoutASharedExpert()
    {
        var graph = Tests.Quantization.QuantizedConversion.Load(Model.Value.Converted).Graph;
        CollectionAssert.AreEqual(new[] { "layers.1.moe/MoE", "layers.2.moe/MoE" }, graph.Node.Where(n => n.OpType == "MoE").Select(n => n.Name).Order().ToArray());
        Assert.IsFalse(graph.Node.Any(n => n.Name.Contains("shared_expert", StringComparison.Ordinal)));
    }

    [TestMethod]
    public void IncrementalDecodeMatchesTheReferenceAtEveryStep()
    {
        var (c, model) = Model.Value;
        var (ids, expected) = ReferenceDecoder.Greedy(x => Reference(c, x), Prompt, Total, Vocab);
        using var session = new OrtDecoderSession(model);
        float prompt = Logits.MaxAbsDiff(session.Forward(Prompt), Reference(c, Prompt));
        Assert.IsLessThanOrEqualTo(Fp32Tolerance, prompt, $"prompt logits differ by {prompt}");
        Console.WriteLine($"qwen3-moe: prompt max |Δlogit| = {prompt:E2}");
        session.Reset();
        ReferenceDecoder.AssertIncrementalDecode(session, Prompt, ids, expected, Fp32Tolerance, "qwen3-moe");
    }

    /// <summary>onnxruntime-genai 0.18 has no Qwen3-MoE type; the folder names "qwen3" and genai's greedy loop gives the reference ids.</summary>
    [TestMethod]
    public void GenAiGreedyGenerationGivesReferenceIds()
    {
        var (c, model) = Model.Value;
        Assert.AreEqual("qwen3", JsonNode.Parse(File.ReadAllText(Path.Combine(model, "genai_config.json")))!["model"]!["type"]!.GetValue<string>());
        var (expected, _) = ReferenceDecoder.Greedy(x => Reference(c, x), Prompt, Total, Vocab);
        GenAiGreedy.AssertContinuation(model, Prompt, expected[Prompt.Length..], "qwen3-moe");
    }
}
