using System.Text.Json.Nodes;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hostile;

/// <summary>
/// A converted folder's genai_config.json, broken one field at a time: loading refuses it naming the file and the
/// field (the checks against model.onnx's inputs need a session and live in <see cref="HostileProcessTests"/>).
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class HostileConvertedFolderTests
{
    private const string Valid = """
    {"model": {"bos_token_id": 1, "context_length": 128, "eos_token_id": 2, "pad_token_id": 0, "type": "llama", "vocab_size": 512,
      "decoder": {"filename": "model.onnx", "head_size": 16, "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
        "num_key_value_heads": 2, "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
        "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask", "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"},
        "outputs": {"logits": "logits", "present_key_names": "present.%d.key", "present_value_names": "present.%d.value"}}},
     "search": {"max_length": 128}}
    """;

    private static string Folder(Action<JsonObject> edit)
    {
        string dir = TestFixtures.Scratch("hostile-converted");
        var root = JsonNode.Parse(Valid)!.AsObject();
        edit(root);
        File.WriteAllText(Path.Combine(dir, "genai_config.json"), root.ToJsonString());
        File.WriteAllBytes(Path.Combine(dir, "model.onnx"), [0]);
        return dir;
    }

    private static void Set(JsonObject root, string path, string? json)
    {
        var parts = path.Split('.');
        var o = root;
        foreach (var p in parts[..^1]) o = o[p]!.AsObject();
        if (json is null) o.Remove(parts[^1]);
        else o[parts[^1]] = JsonNode.Parse(json);
    }

    [TestMethod]
    public void TheValidConfigLoads() => Assert.AreEqual(2, GenAiConfig.Load(Folder(_ => { })).EosTokenIds[0]);

    [TestMethod]
    [DataRow("model.eos_token_id", null, "eos_token_id")]
    [DataRow("model.eos_token_id", "[]", "eos_token_id")]
    [DataRow("model.eos_token_id", "512", "eos_token_id")]
    [DataRow("model.eos_token_id", "-2", "eos_token_id")]
    [DataRow("model.eos_token_id", "[2, 100000]", "eos_token_id")]
    [DataRow("model.eos_token_id", "\"2\"", "eos_token_id")]
    [DataRow("model.bos_token_id", "512", "bos_token_id")]
    [DataRow("model.pad_token_id", "9999", "pad_token_id")]
    [DataRow("model.vocab_size", "0", "vocab_size")]
    [DataRow("model.vocab_size", "\"512\"", "vocab_size")]
    [DataRow("model.context_length", "0", "context_length")]
    [DataRow("model.context_length", "-5", "context_length")]
    [DataRow("model.context_length", "1e12", "context_length")]
    [DataRow("model.type", null, "type")]
    [DataRow("model.type", "7", "type")]
    [DataRow("model.decoder.num_hidden_layers", "0", "num_hidden_layers")]
    [DataRow("model.decoder.num_key_value_heads", "-1", "num_key_value_heads")]
    [DataRow("model.decoder.head_size", "0", "head_size")]
    [DataRow("model.decoder.head_size", "2.5", "head_size")]
    [DataRow("model.decoder.filename", "\"../../etc/passwd\"", "filename")]
    [DataRow("model.decoder.filename", "\"/etc/passwd\"", "filename")]
    [DataRow("model.decoder.filename", "\"\"", "filename")]
    [DataRow("model.decoder.filename", "\"missing.onnx\"", "missing.onnx")]
    [DataRow("model.decoder.inputs", "[]", "inputs")]
    [DataRow("model.decoder.inputs.past_key_names", "\"past.key\"", "past_key_names")]
    [DataRow("model.decoder.inputs.past_value_names", "\"past.%d.%d\"", "past_value_names")]
    [DataRow("model.decoder.outputs.present_key_names", "5", "present_key_names")]
    public void BrokenGenAiConfigIsRefusedByField(string field, string? json, string fragment)
    {
        string dir = Folder(root => Set(root, field, json));
        var e = Assert.ThrowsExactly<ModelLoadException>(() => GenAiConfig.Load(dir));
        StringAssert.Contains(e.Message, fragment);
        StringAssert.Contains(e.Message, dir);
    }

    [TestMethod]
    [DataRow("{not json")]
    [DataRow("[]")]
    [DataRow("{\"model\": 5}")]
    [DataRow("{\"model\": {\"decoder\": []}}")]
    public void UnreadableGenAiConfigIsNamed(string text)
    {
        string dir = TestFixtures.Scratch("hostile-converted");
        File.WriteAllText(Path.Combine(dir, "genai_config.json"), text);
        var e = Assert.ThrowsExactly<ModelLoadException>(() => GenAiConfig.Load(dir));
        StringAssert.Contains(e.Message, "genai_config.json");
    }

    [TestMethod]
    public void FolderWithoutGenAiConfigIsNotAModel()
    {
        string dir = TestFixtures.Scratch("hostile-converted");
        var e = Assert.ThrowsExactly<ModelLoadException>(() => GenAiConfig.Load(dir));
        StringAssert.Contains(e.Message, "owonnx convert");
    }
}
