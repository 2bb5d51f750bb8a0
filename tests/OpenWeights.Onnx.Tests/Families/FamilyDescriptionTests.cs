using System.Text.Json.Nodes;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Families;

/// <summary>How the new families read config fields the tiny fixtures leave at one value.</summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class FamilyDescriptionTests
{
    private static HfConfig Config(string architecture, string fields) =>
        new("config.json", JsonNode.Parse($"{{\"architectures\": [\"{architecture}\"], \"vocab_size\": 32, \"num_hidden_layers\": 4, {fields}}}")!.AsObject());

    private const string GemmaShape =
        "\"hidden_size\": 2048, \"intermediate_size\": 64, \"num_attention_heads\": 8, \"num_key_value_heads\": 1, \"head_dim\": 256, \"max_position_embeddings\": 64";

    [TestMethod]
    [DataRow("bfloat16", 45.25f)]
    [DataRow("float16", 45.25f)]
    [DataRow("float32", 45.254833f)]
    public void GemmaEmbeddingMultiplierIsSqrtHiddenInTheModelsDType(string dtype, float expected)
    {
        var model = new Gemma().Describe(Config("GemmaForCausalLM", $"{GemmaShape}, \"torch_dtype\": \"{dtype}\""), new GenerationConfig());
        Assert.AreEqual(expected, model.EmbeddingMultiplier!.Value, 1e-6f);
        Assert.IsTrue(model.TiedEmbeddings, "Gemma ties its head unless the config says otherwise");
        Assert.AreEqual(NormKind.RmsNormPlusOne, model.Norm);
    }

    [TestMethod]
    public void GemmaUsesHiddenActivationNotHiddenAct()
    {
        // Gemma 1 configs say hidden_act "gelu", but transformers computes hidden_activation (default: tanh GeLU).
        var model = new Gemma().Describe(Config("GemmaForCausalLM", $"{GemmaShape}, \"hidden_act\": \"gelu\""), new GenerationConfig());
        Assert.AreEqual(Activation.GeluTanh, model.Activation);
        model = new Gemma().Describe(Config("GemmaForCausalLM", $"{GemmaShape}, \"hidden_activation\": \"gelu\""), new GenerationConfig());
        Assert.AreEqual(Activation.Gelu, model.Activation);
    }

    [TestMethod]
    public void Gemma2DefaultsApplyWhenAbsentAndNullSwitchesOff()
    {
        var defaults = new Gemma2().Describe(Config("Gemma2ForCausalLM", GemmaShape), new GenerationConfig());
        Assert.AreEqual(50f, defaults.AttentionSoftcap);
        Assert.AreEqual(30f, defaults.FinalLogitSoftcap);
        Assert.AreEqual(4096, defaults.SlidingWindow);
        CollectionAssert.AreEqual(new[] { true, false, true, false }, Enumerable.Range(0, 4).Select(defaults.UsesSlidingWindow).ToArray());
        Assert.AreEqual(1f / 16, defaults.AttentionScale!.Value, 1e-7f);

        var off = new Gemma2().Describe(Config("Gemma2ForCausalLM",
            $"{GemmaShape}, \"attn_logit_softcapping\": null, \"final_logit_softcapping\": null, \"sliding_window\": null"), new GenerationConfig());
        Assert.IsNull(off.AttentionSoftcap);
        Assert.IsNull(off.FinalLogitSoftcap);
        Assert.IsFalse(Enumerable.Range(0, 4).Any(off.UsesSlidingWindow));
    }

    [TestMethod]
    [DataRow("", 1.1902380714238083)]
    [DataRow(", \"attention_factor\": 1.5", 1.5)]
    public void Phi3LongRopeAttentionFactorFollowsTransformers(string extra, double expected)
    {
        // Phi-3-mini-128k: factor 131072 / 4096 = 32, scaling √(1 + ln 32 / ln 4096).
        string factors = string.Join(", ", Enumerable.Repeat("1.0", 48));
        var model = new Phi3().Describe(Config("Phi3ForCausalLM",
            "\"hidden_size\": 3072, \"intermediate_size\": 64, \"num_attention_heads\": 32, \"max_position_embeddings\": 131072, " +
            "\"original_max_position_embeddings\": 4096, " +
            $"\"rope_scaling\": {{\"type\": \"longrope\", \"short_factor\": [{factors}], \"long_factor\": [{factors}]{extra}}}"), new GenerationConfig());
        var scaling = (RopeScaling.LongRope)model.Rotary!.Scaling!;
        Assert.AreEqual(4096, scaling.OriginalMaxPositions);
        Assert.AreEqual(expected, scaling.AttentionFactor, 1e-9);
        Assert.AreEqual(4096, model.Rotary.SwitchLength);
    }

    [TestMethod]
    public void Gpt2TensorNamesWithAndWithoutTheTransformerPrefix()
    {
        var config = Config("GPT2LMHeadModel", "\"n_embd\": 64, \"n_head\": 4, \"n_layer\": 2, \"n_positions\": 32");
        var model = new Gpt2().Describe(config, new GenerationConfig());
        Assert.AreEqual(256, model.IntermediateSize);
        Assert.AreEqual(2, model.NumLayers);

        var prefixed = new Gpt2().MapWeights(model, config, name => name.StartsWith("transformer.", StringComparison.Ordinal));
        Assert.AreEqual("transformer.h.1.attn.c_attn.weight[128:192]", prefixed.Layers[1].V.Weight.ToString());
        var bare = new Gpt2().MapWeights(model, config, name => !name.StartsWith("transformer.", StringComparison.Ordinal));
        Assert.AreEqual("h.1.attn.c_attn.weight[128:192]", bare.Layers[1].V.Weight.ToString());
        Assert.AreEqual("wpe.weight", bare.PositionEmbedding!.Tensor);
        Assert.IsTrue(bare.Layers[0].Q.Weight.StoredInputMajor);
    }

    [TestMethod]
    [DataRow(24, 1.0)]
    [DataRow(32, 0.75)]
    public void HeadSizesGroupQueryAttentionCannotRunAreRefused(int headDim, double partial)
    {
        const int heads = 2, vocab = 16, inter = 16;
        int hidden = heads * headDim;
        var c = new TinyCheckpoint(new JsonObject
        {
            ["architectures"] = new JsonArray("Phi3ForCausalLM"), ["hidden_size"] = hidden, ["intermediate_size"] = inter,
            ["num_hidden_layers"] = 1, ["num_attention_heads"] = heads, ["vocab_size"] = vocab,
            ["max_position_embeddings"] = 16, ["partial_rotary_factor"] = partial, ["eos_token_id"] = 2,
        }, 3);
        c.Normal("model.embed_tokens.weight", 0.15f, vocab, hidden);
        c.Uniform("model.layers.0.input_layernorm.weight", 0.5f, 1.5f, hidden);
        c.Normal("model.layers.0.self_attn.qkv_proj.weight", 0.15f, 3 * hidden, hidden);
        c.Normal("model.layers.0.self_attn.o_proj.weight", 0.15f, hidden, hidden);
        c.Uniform("model.layers.0.post_attention_layernorm.weight", 0.5f, 1.5f, hidden);
        c.Normal("model.layers.0.mlp.gate_up_proj.weight", 0.15f, 2 * inter, hidden);
        c.Normal("model.layers.0.mlp.down_proj.weight", 0.15f, hidden, inter);
        c.Uniform("model.norm.weight", 0.5f, 1.5f, hidden);
        c.Normal("lm_head.weight", 0.15f, vocab, hidden);
        string parent = TestFixtures.Scratch("out");
        var e = Assert.ThrowsExactly<CheckpointException>(() =>
            new ModelConverter(KnownFamilies.All).Convert(c.Write("odd-head"), Path.Combine(parent, "model"), new ConversionOptions()));
        StringAssert.Contains(e.Message, $"head_dim {headDim}");
        StringAssert.Contains(e.Message, "GroupQueryAttention");
        Assert.AreEqual(0, Directory.GetFileSystemEntries(parent).Length, "nothing may be left behind");
    }
}
