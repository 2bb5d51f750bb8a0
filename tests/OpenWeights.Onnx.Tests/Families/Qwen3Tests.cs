using System.Text.Json.Nodes;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Families;

/// <summary>
/// Qwen3 has no shared fixture: tiny random Qwen3ForCausalLM checkpoints are checked against
/// <see cref="ReferenceDecoder.LlamaStyle"/> (modeling_qwen3 semantics: per-head RMSNorm of q and k, weights
/// q_norm/k_norm [head_dim], applied before rotary). The models are built so that Qwen3's differences from
/// Qwen2 matter: head_dim 32 ≠ hidden/heads (16), GQA (4 heads, 2 KV heads), q_norm/k_norm weights U(0.5, 1.5),
/// no attention bias, rope_theta 1e6 over head_dim (Qwen3RotaryEmbedding reads head_dim), tied and untied heads.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class Qwen3Tests
{
    private const float Fp32Tolerance = 1e-4f;
    private const int Vocab = 128, Total = 24;
    private static readonly Dictionary<string, Lazy<(TinyCheckpoint Checkpoint, string Converted)>> Models = new()
    {
        ["tied"] = new(() => Build("tied", tied: true, seed: 3001)),
        ["untied"] = new(() => Build("untied", tied: false, seed: 3002)),
    };

    private static (TinyCheckpoint, string) Build(string name, bool tied, int seed)
    {
        const int hidden = 64, heads = 4, kvHeads = 2, headDim = 32, inter = 96, layers = 2;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("Qwen3ForCausalLM"),
            ["model_type"] = "qwen3",
            ["hidden_size"] = hidden, ["intermediate_size"] = inter, ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = heads, ["num_key_value_heads"] = kvHeads, ["head_dim"] = headDim,
            ["vocab_size"] = Vocab, ["max_position_embeddings"] = 64, ["rms_norm_eps"] = 1e-6, ["rope_theta"] = 1000000.0,
            ["rope_scaling"] = null, ["hidden_act"] = "silu", ["attention_bias"] = false, ["attention_dropout"] = 0.0,
            ["use_sliding_window"] = false, ["sliding_window"] = null, ["max_window_layers"] = layers,
            ["tie_word_embeddings"] = tied, ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["torch_dtype"] = "float32",
        };
        var c = new TinyCheckpoint(config, seed);
        c.Normal("model.embed_tokens.weight", 0.15f, Vocab, hidden);
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}";
            c.Uniform($"{p}.input_layernorm.weight", 0.5f, 1.5f, hidden);
            c.Normal($"{p}.self_attn.q_proj.weight", 0.15f, heads * headDim, hidden);
            c.Normal($"{p}.self_attn.k_proj.weight", 0.15f, kvHeads * headDim, hidden);
            c.Normal($"{p}.self_attn.v_proj.weight", 0.15f, kvHeads * headDim, hidden);
            c.Normal($"{p}.self_attn.o_proj.weight", 0.15f, hidden, heads * headDim);
            c.Uniform($"{p}.self_attn.q_norm.weight", 0.5f, 1.5f, headDim);
            c.Uniform($"{p}.self_attn.k_norm.weight", 0.5f, 1.5f, headDim);
            c.Uniform($"{p}.post_attention_layernorm.weight", 0.5f, 1.5f, hidden);
            c.Normal($"{p}.mlp.gate_proj.weight", 0.15f, inter, hidden);
            c.Normal($"{p}.mlp.up_proj.weight", 0.15f, inter, hidden);
            c.Normal($"{p}.mlp.down_proj.weight", 0.15f, hidden, inter);
        }
        c.Uniform("model.norm.weight", 0.5f, 1.5f, hidden);
        if (!tied)
            c.Normal("lm_head.weight", 0.15f, Vocab, hidden);
        return (c, ConvertedFixtures.Get(c.Write("qwen3-" + name)));
    }

    private static long[] Prompt => new TinyCheckpoint(new JsonObject(), 13).Tokens(12, Vocab);

    /// <summary>Qwen3RotaryEmbedding: default RoPE over head_dim (not hidden/heads) with rope_theta.</summary>
    private static float[] InvFreq(TinyCheckpoint c) => RopeReference.Default(1000000.0, c.Int("head_dim"));

    private static float[] Reference(TinyCheckpoint c, long[] ids, bool skipQNorm = false, bool skipKNorm = false) =>
        ReferenceDecoder.LlamaStyle(c, ids, InvFreq(c), 1f, skipQNorm, skipKNorm);

    private static (long[] Ids, List<float[]> Steps) ReferenceGreedy(TinyCheckpoint c, long[] prompt, int total) =>
        ReferenceDecoder.Greedy(ids => Reference(c, ids), prompt, total, Vocab);

    /// <summary>
    /// The reference's Llama/Qwen2 path (everything Qwen3 shares with them) reproduces transformers 4.46 on the
    /// qwen2 fixture (q/k/v biases, tied head) and the llama fixture.
    /// </summary>
    [TestMethod]
    [DataRow("qwen2")]
    [DataRow("llama")]
    public void LlamaStyleReferenceReproducesTransformersFixture(string fixture)
    {
        var checkpoint = TinyCheckpoint.Load(TestFixtures.Hf(fixture));
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        var ids = reference.Longs("input_ids").Concat(reference.Longs("generated_ids")).ToArray();
        int headDim = checkpoint.Int("hidden_size") / checkpoint.Int("num_attention_heads");
        var logits = ReferenceDecoder.LlamaStyle(checkpoint, ids, RopeReference.Default(10000.0, headDim));
        float diff = Logits.MaxAbsDiff(logits, reference.Floats("full_logits_prompt_plus_generated"));
        Console.WriteLine($"{fixture}: C# reference vs transformers max |Δlogit| = {diff:E2}");
        Assert.IsLessThanOrEqualTo(1e-4f, diff, $"{fixture}: the reference differs from transformers by {diff}");
    }

    [TestMethod]
    [DataRow("tied")]
    [DataRow("untied")]
    public void PromptLogitsMatchTheReference(string variant)
    {
        var (c, model) = Models[variant].Value;
        using var session = new OrtDecoderSession(model);
        float diff = Logits.MaxAbsDiff(session.Forward(Prompt), Reference(c, Prompt));
        Console.WriteLine($"qwen3 {variant}: prompt max |Δlogit| = {diff:E2}");
        Assert.IsLessThanOrEqualTo(Fp32Tolerance, diff, $"qwen3 {variant}: prompt logits differ by {diff}");
    }

    [TestMethod]
    [DataRow("tied")]
    [DataRow("untied")]
    public void IncrementalDecodeMatchesTheReferenceAtEveryStep(string variant)
    {
        var (c, model) = Models[variant].Value;
        var (ids, expected) = ReferenceGreedy(c, Prompt, Total);
        using var session = new OrtDecoderSession(model);
        ReferenceDecoder.AssertIncrementalDecode(session, Prompt, ids, expected, Fp32Tolerance, $"qwen3 {variant}");
    }

    /// <summary>
    /// The comparison above would catch a converter that dropped either per-head norm: leaving k_norm (or
    /// q_norm) out of the reference moves the logits by O(1), four orders of magnitude above the tolerance.
    /// </summary>
    [TestMethod]
    public void SkippingQOrKNormChangesTheLogitsByOrderOne()
    {
        var (c, model) = Models["untied"].Value;
        using var session = new OrtDecoderSession(model);
        var converted = session.Forward(Prompt);
        float noK = Logits.MaxAbsDiff(converted, Reference(c, Prompt, skipKNorm: true));
        float noQ = Logits.MaxAbsDiff(converted, Reference(c, Prompt, skipQNorm: true));
        Console.WriteLine($"converted vs reference without k_norm: max |Δlogit| = {noK:E2}; without q_norm: {noQ:E2}");
        Assert.IsGreaterThan(0.3f, noK, "k_norm should matter");
        Assert.IsGreaterThan(0.3f, noQ, "q_norm should matter");
    }

    [TestMethod]
    [DataRow("tied")]
    [DataRow("untied")]
    public void GenAiGreedyGenerationGivesReferenceIds(string variant)
    {
        var (c, model) = Models[variant].Value;
        var genai = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "genai_config.json")))!["model"]!;
        Assert.AreEqual("qwen3", genai["type"]!.GetValue<string>());
        Assert.AreEqual(32, genai["decoder"]!["head_size"]!.GetValue<int>());

        var (expected, _) = ReferenceGreedy(c, Prompt, Total);
        GenAiGreedy.AssertContinuation(model, Prompt, expected[Prompt.Length..], $"qwen3 {variant}");
    }
}
