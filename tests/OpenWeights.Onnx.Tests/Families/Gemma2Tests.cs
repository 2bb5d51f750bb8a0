using System.Text.Json.Nodes;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Families;

/// <summary>
/// Gemma 2 has no shared fixture: a tiny random Gemma2ForCausalLM is checked against
/// <see cref="ReferenceDecoder.Gemma2"/> (transformers 4.46 semantics). The model is built so that every Gemma 2
/// feature moves the logits: three layers (0 and 2 sliding), a window of 5 under 12+ token sequences, soft caps
/// small enough for tanh to bend (3 on scores, 2 on logits), query_pre_attn_scalar 24 ≠ head_dim 32, and
/// head_dim·heads (128) ≠ hidden (64).
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class Gemma2Tests
{
    private const float Fp32Tolerance = 1e-4f;
    private static readonly Lazy<TinyCheckpoint> Checkpoint = new(Build);
    private static readonly Lazy<string> CheckpointDirectory = new(() => Checkpoint.Value.Write("gemma2"));

    private static TinyCheckpoint Build()
    {
        const int hidden = 64, heads = 4, kvHeads = 2, headDim = 32, inter = 96, vocab = 128, layers = 3;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("Gemma2ForCausalLM"),
            ["model_type"] = "gemma2",
            ["hidden_size"] = hidden, ["intermediate_size"] = inter, ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = heads, ["num_key_value_heads"] = kvHeads, ["head_dim"] = headDim,
            ["vocab_size"] = vocab, ["max_position_embeddings"] = 64, ["rms_norm_eps"] = 1e-6, ["rope_theta"] = 10000.0,
            ["hidden_act"] = "gelu_pytorch_tanh", ["hidden_activation"] = "gelu_pytorch_tanh",
            ["query_pre_attn_scalar"] = 24, ["sliding_window"] = 5,
            ["attn_logit_softcapping"] = 3.0, ["final_logit_softcapping"] = 2.0,
            ["attention_bias"] = false, ["tie_word_embeddings"] = true, ["cache_implementation"] = "hybrid",
            ["bos_token_id"] = 2, ["eos_token_id"] = 1, ["pad_token_id"] = 0, ["torch_dtype"] = "float32",
        };
        var c = new TinyCheckpoint(config, 2024);
        c.Normal("model.embed_tokens.weight", 0.1f, vocab, hidden);
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}";
            c.Uniform($"{p}.input_layernorm.weight", -0.5f, 0.5f, hidden);
            c.Normal($"{p}.self_attn.q_proj.weight", 0.15f, heads * headDim, hidden);
            c.Normal($"{p}.self_attn.k_proj.weight", 0.15f, kvHeads * headDim, hidden);
            c.Normal($"{p}.self_attn.v_proj.weight", 0.15f, kvHeads * headDim, hidden);
            c.Normal($"{p}.self_attn.o_proj.weight", 0.15f, hidden, heads * headDim);
            c.Uniform($"{p}.post_attention_layernorm.weight", -0.5f, 0.5f, hidden);
            c.Uniform($"{p}.pre_feedforward_layernorm.weight", -0.5f, 0.5f, hidden);
            c.Normal($"{p}.mlp.gate_proj.weight", 0.15f, inter, hidden);
            c.Normal($"{p}.mlp.up_proj.weight", 0.15f, inter, hidden);
            c.Normal($"{p}.mlp.down_proj.weight", 0.15f, hidden, inter);
            c.Uniform($"{p}.post_feedforward_layernorm.weight", -0.5f, 0.5f, hidden);
        }
        c.Uniform("model.norm.weight", -0.5f, 0.5f, hidden);
        return c;
    }

    private static long[] Prompt => new TinyCheckpoint(new JsonObject(), 11).Tokens(12, 128);

    private static (long[] Ids, List<float[]> Steps) ReferenceGreedy(TinyCheckpoint c, long[] prompt, int total) =>
        ReferenceDecoder.Greedy(ids => ReferenceDecoder.Gemma2(c, ids), prompt, total, c.Int("vocab_size"));

    [TestMethod]
    public void EveryGemma2FeatureChangesTheReference()
    {
        var c = Checkpoint.Value;
        var baseline = ReferenceDecoder.Gemma2(c, Prompt);
        foreach (var (field, value) in new (string, JsonNode?)[]
                 { ("sliding_window", 1000), ("attn_logit_softcapping", null), ("final_logit_softcapping", null), ("query_pre_attn_scalar", 32) })
        {
            var config = c.Config.DeepClone().AsObject();
            config[field] = value;
            var variant = new TinyCheckpoint(config, 0);
            foreach (var (name, tensor) in c.Tensors) variant.Tensors[name] = tensor;
            float diff = Logits.MaxAbsDiff(ReferenceDecoder.Gemma2(variant, Prompt), baseline);
            Console.WriteLine($"{field} → {value?.ToJsonString() ?? "null"}: max |Δlogit| = {diff:E2}");
            Assert.IsGreaterThan(1e-2f, diff, $"changing {field} should move the logits");
        }
    }

    [TestMethod]
    public void PromptLogitsMatchTheReference()
    {
        using var session = new OrtDecoderSession(ConvertedFixtures.Get(CheckpointDirectory.Value));
        float diff = Logits.MaxAbsDiff(session.Forward(Prompt), ReferenceDecoder.Gemma2(Checkpoint.Value, Prompt));
        Console.WriteLine($"gemma2: prompt max |Δlogit| = {diff:E2}");
        Assert.IsLessThanOrEqualTo(Fp32Tolerance, diff, $"gemma2: prompt logits differ by {diff}");
    }

    [TestMethod]
    public void IncrementalDecodeMatchesTheReferenceAtEveryStep()
    {
        var (ids, expected) = ReferenceGreedy(Checkpoint.Value, Prompt, 20);
        using var session = new OrtDecoderSession(ConvertedFixtures.Get(CheckpointDirectory.Value));
        ReferenceDecoder.AssertIncrementalDecode(session, Prompt, ids, expected, Fp32Tolerance, "gemma2");
    }

    [TestMethod]
    public void Fp16StaysWithinRoundingBoundAndGreedyIdsMatch()
    {
        var (ids, _) = ReferenceGreedy(Checkpoint.Value, Prompt, 20);
        using var session = new OrtDecoderSession(ConvertedFixtures.Get(CheckpointDirectory.Value, Precision.Fp16));
        int vocab = session.Vocab;
        var logits = session.Forward(Prompt);
        float diff = Logits.MaxAbsDiff(logits, ReferenceDecoder.Gemma2(Checkpoint.Value, Prompt));
        Console.WriteLine($"gemma2: fp16 max |Δlogit| = {diff:E2}");
        Assert.IsLessThanOrEqualTo(2e-2f, diff);
        var step = logits.AsSpan(logits.Length - vocab).ToArray();
        for (int i = Prompt.Length; i < ids.Length; i++)
        {
            Assert.AreEqual(ids[i], Logits.ArgMax(step), $"gemma2: fp16 greedy id at position {i}");
            if (i + 1 < ids.Length) step = session.Forward([ids[i]]);
        }
    }

    [TestMethod]
    public void GenAiGreedyGenerationGivesReferenceIds()
    {
        var (expected, _) = ReferenceGreedy(Checkpoint.Value, Prompt, 20);
        GenAiGreedy.AssertContinuation(ConvertedFixtures.Get(CheckpointDirectory.Value), Prompt, expected[Prompt.Length..], "gemma2");
    }
}
