using System.Text.Json.Nodes;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Tests.Families;

/// <summary>
/// rope_scaling types linear, llama3 and yarn, which no shared fixture exercises, against
/// <see cref="RopeReference"/> (an independent transcription of transformers 4.46's
/// <c>_compute_*_parameters</c>): (a) the converter's inverse frequencies and attention scaling, and (b) a tiny
/// LlamaForCausalLM with that rope_scaling, converted in FP32, against <see cref="ReferenceDecoder.LlamaStyle"/>
/// fed the reference's own frequencies. head_dim 16 (= hidden/heads, so 4.46's rotary dim is unambiguous).
/// Variants: linear ×4; llama3 with Llama 3.1's values (factor 8, low 1, high 4, original 8192, θ 5e5), where
/// head_dim 16 already spans all three bands; llama3 with original 64 (θ 1e4), where the scaled bands reach the
/// high-frequency dimensions that short sequences feel; yarn ×4 over an original length of 32 (4.46 reads it
/// from max_position_embeddings), default β 32/1 and attention factor 0.1·ln 4 + 1.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class RopeScalingTests
{
    private const float Fp32Tolerance = 1e-4f;
    private const int Hidden = 64, Heads = 4, HeadDim = Hidden / Heads, Vocab = 96;

    private static readonly Dictionary<string, (double Theta, int MaxPositions, string Scaling)> Variants = new()
    {
        ["linear"] = (10000.0, 64, """{"rope_type": "linear", "factor": 4.0}"""),
        ["llama3.1"] = (500000.0, 64,
            """{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"""),
        ["llama3-short"] = (10000.0, 128,
            """{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}"""),
        ["yarn"] = (10000.0, 32, """{"rope_type": "yarn", "factor": 4.0}"""),
    };

    private static readonly Dictionary<string, Lazy<(TinyCheckpoint Checkpoint, string Converted)>> Models =
        Variants.Keys.ToDictionary(k => k, k => new Lazy<(TinyCheckpoint, string)>(() => Build(k)));

    private static JsonObject Config(string variant)
    {
        var (theta, maxPositions, scaling) = Variants[variant];
        return new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = Hidden, ["intermediate_size"] = 96, ["num_hidden_layers"] = 2,
            ["num_attention_heads"] = Heads, ["num_key_value_heads"] = 2, ["vocab_size"] = Vocab,
            ["max_position_embeddings"] = maxPositions, ["rms_norm_eps"] = 1e-5, ["rope_theta"] = theta,
            ["rope_scaling"] = JsonNode.Parse(scaling), ["hidden_act"] = "silu",
            ["attention_bias"] = false, ["mlp_bias"] = false, ["tie_word_embeddings"] = false,
            ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["torch_dtype"] = "float32",
        };
    }

    private static (TinyCheckpoint, string) Build(string variant)
    {
        var c = new TinyCheckpoint(Config(variant), 4000 + variant.Length);
        c.Normal("model.embed_tokens.weight", 0.15f, Vocab, Hidden);
        for (int l = 0; l < 2; l++)
        {
            string p = $"model.layers.{l}";
            c.Uniform($"{p}.input_layernorm.weight", 0.5f, 1.5f, Hidden);
            c.Normal($"{p}.self_attn.q_proj.weight", 0.15f, Heads * HeadDim, Hidden);
            c.Normal($"{p}.self_attn.k_proj.weight", 0.15f, 2 * HeadDim, Hidden);
            c.Normal($"{p}.self_attn.v_proj.weight", 0.15f, 2 * HeadDim, Hidden);
            c.Normal($"{p}.self_attn.o_proj.weight", 0.15f, Hidden, Heads * HeadDim);
            c.Uniform($"{p}.post_attention_layernorm.weight", 0.5f, 1.5f, Hidden);
            c.Normal($"{p}.mlp.gate_proj.weight", 0.15f, 96, Hidden);
            c.Normal($"{p}.mlp.up_proj.weight", 0.15f, 96, Hidden);
            c.Normal($"{p}.mlp.down_proj.weight", 0.15f, Hidden, 96);
        }
        c.Uniform("model.norm.weight", 0.5f, 1.5f, Hidden);
        c.Normal("lm_head.weight", 0.15f, Vocab, Hidden);
        return (c, ConvertedFixtures.Get(c.Write("llama-rope-" + variant)));
    }

    /// <summary>What the converter makes of a config (parsed from its JSON text, as from config.json).</summary>
    private static RotaryEmbedding ConverterRotary(JsonObject config) =>
        new Llama().Describe(new HfConfig("config.json", JsonNode.Parse(config.ToJsonString())!.AsObject()), new GenerationConfig()).Rotary!;

    private static void AssertRelativelyClose(float[] expected, float[] actual, string what)
    {
        Assert.HasCount(expected.Length, actual, $"{what}: length");
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double relative = Math.Abs(actual[i] - expected[i]) / Math.Abs(expected[i]);
            worst = Math.Max(worst, relative);
            Assert.IsLessThanOrEqualTo(1e-6, relative, $"{what}: inv_freq[{i}] is {actual[i]:R}, transformers {expected[i]:R}");
        }
        Console.WriteLine($"{what}: inv_freq max relative difference {worst:E2}");
    }

    [TestMethod]
    [DataRow("linear")]
    [DataRow("llama3.1")]
    [DataRow("llama3-short")]
    [DataRow("yarn")]
    public void InverseFrequenciesAndAttentionScalingMatchTransformers(string variant)
    {
        var config = Config(variant);
        var (expected, scaling) = RopeReference.Compute(config, HeadDim);
        var rotary = ConverterRotary(config);
        Assert.AreEqual(HeadDim, rotary.RotaryDim);
        AssertRelativelyClose(expected, rotary.InverseFrequencies(), variant);
        Assert.AreEqual(scaling, rotary.AttentionScaling, 1e-6f * scaling, $"{variant}: attention scaling");
        Console.WriteLine($"{variant}: attention scaling {rotary.AttentionScaling:R} (transformers {scaling:R})");

        // Each case reaches the branches it is meant to test.
        var unscaled = RopeReference.Default(Variants[variant].Theta, HeadDim);
        Assert.IsTrue(expected.Zip(unscaled).Any(p => p.First != p.Second), $"{variant}: scaling changes nothing");
        if (variant.StartsWith("llama3"))
        {
            var s = config["rope_scaling"]!;
            string bands = RopeReference.Llama3Bands(Variants[variant].Theta, HeadDim,
                s["low_freq_factor"]!.GetValue<double>(), s["high_freq_factor"]!.GetValue<double>(),
                s["original_max_position_embeddings"]!.GetValue<double>());
            Console.WriteLine($"{variant}: bands {bands}");
            Assert.IsTrue(bands.Contains('h') && bands.Contains('m') && bands.Contains('l'), $"{variant}: bands {bands}");
        }
        if (variant == "yarn")
        {
            Assert.AreEqual((float)(0.1 * Math.Log(4) + 1), scaling, 1e-7f);
            var ramp = RopeReference.YarnRamp(10000.0, HeadDim, 32, 32, 1);
            Console.WriteLine($"yarn: ramp [{string.Join(", ", ramp)}]");
            Assert.IsTrue(ramp.Contains(0f) && ramp.Contains(1f) && ramp.Any(r => r is > 0 and < 1), "yarn: ramp should extrapolate, blend and interpolate");
        }
    }

    /// <summary>
    /// transformers 4.46 computes YaRN's correction range from config.max_position_embeddings and ignores
    /// rope_scaling.original_max_position_embeddings; later releases (and the YaRN paper) use the latter. The
    /// converter follows the later reading. With factor = max/original (the usual way a config is written, and
    /// what 4.5x's override of factor computes) both later behaviours agree, and so does the converter; 4.46
    /// differs. The end-to-end case above leaves original_max_position_embeddings out, where all agree.
    /// </summary>
    [TestMethod]
    public void YarnTakesTheOriginalLengthFromRopeScalingAsLaterTransformersDo()
    {
        var config = Config("yarn");
        config["max_position_embeddings"] = 128;
        config["rope_scaling"]!["original_max_position_embeddings"] = 32;
        var rotary = ConverterRotary(config);
        var (later, scaling) = RopeReference.Yarn(10000.0, HeadDim, 4.0, 32, null, 32, 1);
        AssertRelativelyClose(later, rotary.InverseFrequencies(), "yarn, original 32 in rope_scaling");
        Assert.AreEqual(scaling, rotary.AttentionScaling, 1e-6f);
        var (v446, _) = RopeReference.Compute(config, HeadDim);
        Assert.IsTrue(v446.Zip(later).Any(p => p.First != p.Second), "4.46 (max_position_embeddings 128) should differ here");
    }

    private static float[] Reference(TinyCheckpoint c, long[] ids)
    {
        var (inv, scaling) = RopeReference.Compute(c.Config, HeadDim);
        return ReferenceDecoder.LlamaStyle(c, ids, inv, scaling);
    }

    private static (long[] Ids, List<float[]> Steps) ReferenceGreedy(TinyCheckpoint c, long[] prompt, int total) =>
        ReferenceDecoder.Greedy(ids => Reference(c, ids), prompt, total, Vocab);

    [TestMethod]
    [DataRow("linear")]
    [DataRow("llama3.1")]
    [DataRow("llama3-short")]
    [DataRow("yarn")]
    public void ConvertedModelMatchesTheReferenceOnPromptAndEveryDecodeStep(string variant)
    {
        var (c, model) = Models[variant].Value;
        var prompt = new TinyCheckpoint(new JsonObject(), 17).Tokens(12, Vocab);
        int total = Math.Min(30, c.Int("max_position_embeddings"));
        var (ids, expected) = ReferenceGreedy(c, prompt, total);

        using var session = new OrtDecoderSession(model);
        var logits = session.Forward(prompt);
        float promptDiff = Logits.MaxAbsDiff(logits, Reference(c, prompt));
        Assert.IsLessThanOrEqualTo(Fp32Tolerance, promptDiff, $"{variant}: prompt logits differ by {promptDiff}");

        var step = logits.AsSpan(logits.Length - Vocab).ToArray();
        float worst = 0;
        for (int i = 0; i < expected.Count; i++)
        {
            float diff = Logits.MaxAbsDiff(step, expected[i]);
            worst = Math.Max(worst, diff);
            Assert.IsLessThanOrEqualTo(Fp32Tolerance, diff, $"{variant}: decode step {i} differs by {diff}");
            if (prompt.Length + i < ids.Length)
            {
                Assert.AreEqual(ids[prompt.Length + i], Logits.ArgMax(step), $"{variant}: greedy id at step {i}");
                step = session.Forward([ids[prompt.Length + i]]);
            }
        }

        // How far the scaling moves these logits: what the tolerance above is measured against.
        var full = ids.ToArray();
        var unscaled = ReferenceDecoder.LlamaStyle(c, full, RopeReference.Default(Variants[variant].Theta, HeadDim));
        float effect = Logits.MaxAbsDiff(unscaled, Reference(c, full));
        Console.WriteLine($"{variant}: prompt max |Δlogit| = {promptDiff:E2}, decode max |Δlogit| = {worst:E2} over {expected.Count} steps;" +
                          $" unscaled RoPE would differ by {effect:E2}");
        Assert.IsGreaterThan(10 * Fp32Tolerance, effect, $"{variant}: the scaling should move the logits well above the tolerance");
    }
}
