using System.Text.Json.Nodes;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Models;

namespace OpenWeights.Onnx.Tests.Families;

/// <summary>How the new families read config fields the tiny fixtures leave at one value.</summary>
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
}
