using System.Text.Json.Nodes;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hostile;

/// <summary>
/// Checkpoints whose tensors or shard index disagree with the config or with themselves, and weights that are not
/// numbers: each is refused with the tensor or file named, and nothing is written.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class HostileCheckpointTests
{
    private const string Up1 = "model.layers.1.mlp.up_proj.weight";

    /// <summary>The llama fixture rewritten with its tensors changed by <paramref name="edit"/>.</summary>
    private static string Rewritten(Action<List<(string Name, long[] Shape, float[] Values)>> edit, string fixture = "llama")
    {
        string dir = HostileInput.CopyFixture(fixture);
        string model = Path.Combine(dir, "model.safetensors");
        var tensors = Read(model);
        edit(tensors);
        SafeTensorsWriter.WriteFloats(model, tensors.ToArray());
        return dir;
    }

    private static unsafe List<(string Name, long[] Shape, float[] Values)> Read(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        var list = new List<(string, long[], float[])>();
        foreach (var info in file.Tensors.Values.OrderBy(t => t.Offset))
        {
            var values = new float[info.ElementCount];
            FloatConversion.ToSingle(new ReadOnlySpan<byte>(file.Pointer(info), (int)info.Length), info.DType, values);
            list.Add((info.Name, info.Shape, values));
        }
        return list;
    }

    [TestMethod]
    [DataRow("model.layers.2.mlp.up_proj.weight", "num_hidden_layers to 2")]
    [DataRow("model.layers.7.self_attn.q_proj.weight", "layer 7")]
    [DataRow("model.vision_tower.patch_embed.weight", "model.vision_tower.patch_embed.weight")]
    [DataRow("model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.q_proj.bias")]
    [DataRow("model.layers.0.mlp.up_proj.weight_scale", "would be ignored")]
    public void TensorNobodyReadsIsRefusedByName(string extra, string fragment)
    {
        string dir = Rewritten(t => t.Add((extra, [4], [1f, 2f, 3f, 4f])));
        HostileInput.Refused(dir, extra, fragment);
    }

    [TestMethod]
    [DataRow(Up1)]
    [DataRow("model.norm.weight")]
    [DataRow("model.embed_tokens.weight")]
    [DataRow("lm_head.weight")]
    public void MissingTensorIsNamed(string missing)
    {
        string dir = Rewritten(t => t.RemoveAll(x => x.Name == missing));
        HostileInput.Refused(dir, missing, "not found");
    }

    [TestMethod]
    [DataRow(Up1, 0, float.NaN)]
    [DataRow(Up1, 10239, float.PositiveInfinity)]
    [DataRow(Up1, 5000, float.NegativeInfinity)]
    [DataRow("model.norm.weight", 63, float.NaN)]
    [DataRow("model.embed_tokens.weight", 3, float.NaN)]
    [DataRow("lm_head.weight", 32767, float.PositiveInfinity)]
    public void NonFiniteWeightIsRefusedNamingTheTensor(string tensor, int element, float value)
    {
        string dir = Rewritten(t => t.Single(x => x.Name == tensor).Values[element] = value);
        HostileInput.Refused(dir, tensor, $"at element {element}", "--allow-nonfinite");
    }

    [TestMethod]
    [DataRow((ushort)0x7FC0, "NaN")]
    [DataRow((ushort)0x7F80, "+Inf")]
    [DataRow((ushort)0xFF80, "-Inf")]
    public unsafe void NonFiniteBf16WeightIsRefused(ushort bits, string shown)
    {
        string dir = HostileInput.CopyFixture("llama_bf16");
        string model = Path.Combine(dir, "model.safetensors");
        long offset;
        using (var file = SafeTensorsFile.Open(model))
            offset = file.Tensors[Up1].Offset + 2 * 17;
        using (var stream = new FileStream(model, FileMode.Open, FileAccess.Write))
        {
            stream.Position = offset;
            stream.Write(BitConverter.GetBytes(bits));
        }
        HostileInput.Refused(dir, Up1, "at element 17", $"holds {shown} ");
    }

    [TestMethod]
    public void WrongShapeIsNamedAndStagingRemoved()
    {
        string dir = Rewritten(t =>
        {
            int i = t.FindIndex(x => x.Name == Up1);
            t[i] = (Up1, [80, 128], t[i].Values[..(80 * 128)]);
        });
        HostileInput.Refused(dir, Up1, "160");
    }

    [TestMethod]
    public void TensorInTwoShardsIsRefused()
    {
        string dir = Rewritten(_ => { });
        var tensors = Read(Path.Combine(dir, "model.safetensors"));
        File.Delete(Path.Combine(dir, "model.safetensors"));
        SafeTensorsWriter.WriteFloats(Path.Combine(dir, "a.safetensors"), tensors.ToArray());
        SafeTensorsWriter.WriteFloats(Path.Combine(dir, "b.safetensors"), tensors.Where(t => t.Name == Up1).ToArray());
        WriteIndex(dir, tensors.ToDictionary(t => t.Name, t => (JsonNode)(t.Name == Up1 ? "b.safetensors" : "a.safetensors")));
        HostileInput.Refused(dir, Up1, "appears in both");
    }

    /// <summary>The fixture split into two shards with an index; <paramref name="edit"/> then changes the weight_map.</summary>
    private static string Sharded(Action<JsonObject> edit)
    {
        string dir = HostileInput.CopyFixture("llama");
        var tensors = Read(Path.Combine(dir, "model.safetensors"));
        File.Delete(Path.Combine(dir, "model.safetensors"));
        var first = tensors.Take(10).ToArray();
        var second = tensors.Skip(10).ToArray();
        SafeTensorsWriter.WriteFloats(Path.Combine(dir, "model-00001-of-00002.safetensors"), first);
        SafeTensorsWriter.WriteFloats(Path.Combine(dir, "model-00002-of-00002.safetensors"), second);
        var map = new JsonObject();
        foreach (var t in first) map[t.Name] = "model-00001-of-00002.safetensors";
        foreach (var t in second) map[t.Name] = "model-00002-of-00002.safetensors";
        edit(map);
        WriteIndex(dir, map);
        return dir;
    }

    private static void WriteIndex(string dir, IDictionary<string, JsonNode> map)
    {
        var weightMap = new JsonObject();
        foreach (var (k, v) in map) weightMap[k] = v?.DeepClone();
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"),
            new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = weightMap }.ToJsonString());
    }

    private static string FirstOf(JsonObject map, string shard) =>
        map.First(p => p.Value!.GetValue<string>() == shard).Key;

    [TestMethod]
    public void IndexMappingATensorToTheWrongShardIsRefused() =>
        HostileInput.Refused(Sharded(m => m[FirstOf(m, "model-00001-of-00002.safetensors")] = "model-00002-of-00002.safetensors"),
            "model.safetensors.index.json", "but it is in model-00001-of-00002.safetensors");

    [TestMethod]
    public void IndexLeavingATensorOutIsRefused()
    {
        string left = "";
        string dir = Sharded(m => { left = FirstOf(m, "model-00002-of-00002.safetensors"); m.Remove(left); });
        HostileInput.Refused(dir, left, "does not list it");
    }

    [TestMethod]
    public void IndexListingATensorNoShardHoldsIsRefused() =>
        HostileInput.Refused(Sharded(m => m["model.layers.9.ghost.weight"] = "model-00001-of-00002.safetensors"),
            "model.layers.9.ghost.weight", "does not hold it");

    [TestMethod]
    [DataRow("../elsewhere/model.safetensors")]
    [DataRow("/etc/passwd")]
    [DataRow("sub/../../model.safetensors")]
    [DataRow("./model-00001-of-00002.safetensors")]
    [DataRow("")]
    public void IndexPathLeavingTheFolderIsRefused(string shard)
    {
        string dir = Sharded(m => m[FirstOf(m, "model-00001-of-00002.safetensors")] = shard);
        var e = HostileInput.Refused(dir, "model.safetensors.index.json");
        Assert.IsFalse(e.Message.Contains("root:", StringComparison.Ordinal), "nothing outside the folder may be read");
    }

    [TestMethod]
    public void ShardLinkedOutsideTheFolderIsRefused()
    {
        string dir = Sharded(_ => { });
        string outside = Path.Combine(TestFixtures.Scratch("hostile-outside"), "elsewhere.safetensors");
        File.Move(Path.Combine(dir, "model-00002-of-00002.safetensors"), outside);
        File.CreateSymbolicLink(Path.Combine(dir, "model-00002-of-00002.safetensors"), outside);
        HostileInput.Refused(dir, "leads outside the checkpoint folder");
    }

    [TestMethod]
    public void SingleFileLinkedOutsideTheFolderIsRefused()
    {
        string dir = HostileInput.CopyFixture("llama");
        string outside = Path.Combine(TestFixtures.Scratch("hostile-outside"), "model.safetensors");
        File.Move(Path.Combine(dir, "model.safetensors"), outside);
        File.CreateSymbolicLink(Path.Combine(dir, "model.safetensors"), outside);
        HostileInput.Refused(dir, "leads outside the checkpoint folder");
    }

    [TestMethod]
    [DataRow("{\"weight_map\": []}", "weight_map")]
    [DataRow("{\"weight_map\": {\"model.norm.weight\": 5}}", "weight_map['model.norm.weight']")]
    [DataRow("{\"weight_map\": {}}", "empty")]
    [DataRow("{\"metadata\": {}}", "weight_map")]
    [DataRow("{\"weight_map\": {\"model.norm.weight\": \"model-9.safetensors\"}}", "does not exist")]
    [DataRow("{weight_map", "not valid JSON")]
    [DataRow("[]", "weight_map")]
    public void BrokenIndexIsNamed(string text, string fragment)
    {
        string dir = HostileInput.CopyFixture("llama");
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), text);
        HostileInput.Refused(dir, "model.safetensors.index.json", fragment);
    }
}
