using System.Text.Json.Nodes;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tokenization;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>
/// Checkpoints carry their chat template three ways: a string in tokenizer_config.json, a list of named templates
/// there, or chat_template.jinja beside it. The converted folder must hold it as a string in every case, because
/// onnxruntime-genai 0.18 (whose template engine renders our chats too) refuses to load a list and never reads the
/// .jinja file. The sample's own ChatML template is the reference.
/// </summary>
[TestClass]
[TestCategory(Category.Parity)]
public sealed class ChatTemplateFilesTests
{
    private const string ToolUse = "{% for m in messages %}{{ m['content'] }}{% endfor %}{{ tools | length }}";
    private static readonly ChatMessage[] Chat = [new("system", "Be brief."), new("user", "Tell me my fortune.")];

    private static string SampleTemplate =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(TestFixtures.FortuneLlama, "tokenizer_config.json")))!["chat_template"]!.GetValue<string>();

    /// <summary>The sample checkpoint with its tokenizer_config.json changed by <paramref name="edit"/>.</summary>
    private static string SampleWith(Action<JsonObject, string> edit)
    {
        string directory = TestFixtures.Scratch("chat-template-checkpoint");
        foreach (var file in Directory.GetFiles(TestFixtures.FortuneLlama))
            File.Copy(file, Path.Combine(directory, Path.GetFileName(file)));
        string path = Path.Combine(directory, "tokenizer_config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config, directory);
        File.WriteAllText(path, config.ToJsonString());
        return directory;
    }

    private static string Convert(string checkpoint)
    {
        string output = Path.Combine(TestFixtures.Scratch("chat-template-out"), "model");
        new ModelConverter(KnownFamilies.All).Convert(checkpoint, output, new ConversionOptions { Precision = Precision.Fp32 });
        return output;
    }

    private static void AssertRendersLikeTheSample(string folder)
    {
        var tokenizer = TextTokenizer.FromFolder(folder);
        Assert.AreEqual(SampleTemplate, tokenizer.ChatTemplate);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer_config.json")))!;
        Assert.AreEqual(SampleTemplate, config["chat_template"]!.GetValue<string>(), "a string, for onnxruntime-genai");
        using var template = ChatTemplate.ForModel(folder, tokenizer.ChatTemplate);
        string rendered = template.Render(Chat);
        Assert.AreEqual("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nTell me my fortune.<|im_end|>\n<|im_start|>assistant\n", rendered);
        Assert.IsNull(ConvertedFolder.WhyNotReplaceable(folder), "--overwrite must accept the folder it wrote");
    }

    [TestMethod]
    public void ANamedTemplateListBecomesTheDefaultStringAndFilesForTheOthers()
    {
        string checkpoint = SampleWith((config, _) => config["chat_template"] = new JsonArray(
            new JsonObject { ["name"] = "default", ["template"] = SampleTemplate },
            new JsonObject { ["name"] = "tool_use", ["template"] = ToolUse }));
        string folder = Convert(checkpoint);
        AssertRendersLikeTheSample(folder);
        Assert.AreEqual(ToolUse, File.ReadAllText(Path.Combine(folder, "additional_chat_templates", "tool_use.jinja")));
    }

    [TestMethod]
    public void AChatTemplateJinjaFileReachesTheConvertedConfig()
    {
        string checkpoint = SampleWith((config, directory) =>
        {
            File.WriteAllText(Path.Combine(directory, "chat_template.jinja"), SampleTemplate);
            config.Remove("chat_template");
        });
        AssertRendersLikeTheSample(Convert(checkpoint));
    }

    [TestMethod]
    public void AStringTemplateIsCopiedByteForByte()
    {
        string folder = ConvertedFixtures.Get(TestFixtures.FortuneLlama);
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(TestFixtures.FortuneLlama, "tokenizer_config.json")),
            File.ReadAllBytes(Path.Combine(folder, "tokenizer_config.json")));
    }

    [TestMethod]
    [DataRow("../escape", "cannot be used as a file name")]
    [DataRow(".hidden", "cannot be used as a file name")]
    [DataRow("", "an entry has no 'name'")]
    public void ABadTemplateNameIsRefusedBeforeAnythingIsWritten(string name, string expected)
    {
        string checkpoint = SampleWith((config, _) => config["chat_template"] = new JsonArray(
            new JsonObject { ["name"] = "default", ["template"] = SampleTemplate },
            new JsonObject { ["name"] = name, ["template"] = ToolUse }));
        string output = Path.Combine(TestFixtures.Scratch("chat-template-refused"), "model");
        var e = Assert.ThrowsExactly<CheckpointException>(() =>
            new ModelConverter(KnownFamilies.All).Convert(checkpoint, output, new ConversionOptions { Precision = Precision.Fp32 }));
        StringAssert.Contains(e.Message, expected);
        StringAssert.Contains(e.Message, "tokenizer_config.json");
        Assert.IsFalse(Directory.Exists(output));
    }
}
