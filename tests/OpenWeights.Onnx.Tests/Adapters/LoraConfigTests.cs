using System.Text.Json;
using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Adapters;

/// <summary>Reading PEFT's adapter_config.json and tensor names: what is applied, and what is refused by name.</summary>
[TestClass]
[TestCategory(Category.Unit)]
public sealed class LoraConfigTests
{
    private const string Base = """{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj","v_proj"],"bias":"none","use_dora":false,"modules_to_save":null,"rank_pattern":{},"alpha_pattern":{}""";

    private static LoraConfig Parse(string extra = "") =>
        LoraConfig.Parse("adapter_config.json", JsonDocument.Parse(Base + extra + "}").RootElement);

    private static string Refused(string extra) =>
        Assert.ThrowsExactly<CheckpointException>(() => Parse(extra)).Message;

    [TestMethod]
    public void ScaleIsAlphaOverRankOrOverItsRootWithRsLora()
    {
        Assert.AreEqual(2.0, Parse().Scale, 1e-12);
        Assert.AreEqual(16 / Math.Sqrt(8), Parse(""","use_rslora":true""").Scale, 1e-12);
    }

    [TestMethod]
    public void TargetModulesMatchAsPeftDoes()
    {
        var list = Parse();
        Assert.IsTrue(list.Targets("model.layers.3.self_attn.q_proj"));
        Assert.IsFalse(list.Targets("model.layers.3.self_attn.k_proj"));
        Assert.IsFalse(list.Targets("model.layers.3.self_attn.xq_proj"), "a list entry matches a whole name or a suffix after a dot");

        var regex = Parse(""","target_modules":".*\\.(q|o)_proj" """.TrimEnd());
        Assert.IsTrue(regex.Targets("model.layers.0.self_attn.o_proj"));
        Assert.IsFalse(regex.Targets("model.layers.0.self_attn.k_proj"));

        var all = Parse(""","target_modules":"all-linear" """.TrimEnd());
        Assert.IsTrue(all.Targets("model.layers.0.mlp.down_proj"));
        Assert.IsFalse(all.Targets("lm_head"), "peft's all-linear leaves out the output layer");

        var layers = Parse(""","layers_to_transform":[1]""");
        Assert.IsTrue(layers.Targets("model.layers.1.self_attn.q_proj"));
        Assert.IsFalse(layers.Targets("model.layers.0.self_attn.q_proj"));
        Assert.IsFalse(layers.Targets("model.layers.10.self_attn.q_proj"));
    }

    [TestMethod]
    public void UnsupportedFeaturesAreRefusedNamingTheField()
    {
        StringAssert.Contains(Refused(""","use_dora":true"""), "'use_dora'");
        StringAssert.Contains(Refused(""","bias":"lora_only" """.TrimEnd()), "'bias'");
        StringAssert.Contains(Refused(""","modules_to_save":["lm_head"]"""), "'modules_to_save'");
        StringAssert.Contains(Refused(""","rank_pattern":{"q_proj":4}"""), "'rank_pattern'");
        StringAssert.Contains(Refused(""","peft_type":"IA3" """.TrimEnd()), "'peft_type'");
        StringAssert.Contains(Refused(""","r":0"""), "'r'");
        StringAssert.Contains(Refused(""","target_modules":3"""), "'target_modules'");
    }

    [TestMethod]
    public void TensorsOtherThanLoraPairsAreRefusedByName()
    {
        string Open(params (string Name, long[] Shape, float[] Values)[] tensors)
        {
            string dir = TestFixtures.Scratch("adapter");
            File.WriteAllText(Path.Combine(dir, LoraConfig.FileName), Base + "}");
            SafeTensorsWriter.WriteFloats(Path.Combine(dir, LoraAdapter.WeightsFile), tensors);
            return Assert.ThrowsExactly<CheckpointException>(() => LoraAdapter.Open(dir).Dispose()).Message;
        }
        const string q = "base_model.model.model.layers.0.self_attn.q_proj";
        StringAssert.Contains(Open(("base_model.model.model.embed_tokens.lora_embedding_A", [8, 4], new float[32])), "embedding adapter");
        StringAssert.Contains(Open((q + ".lora_magnitude_vector", [4], new float[4])), "DoRA");
        StringAssert.Contains(Open((q + ".lora_A.weight", [8, 4], new float[32])), "no lora_B");
    }
}
