using System.Text.Json.Nodes;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Tokenization;

/// <summary>
/// Added tokens with lstrip/rstrip/single_word (Phi-3- and Mistral-style files set them): fortune-llama's tokenizer
/// with &lt;|im_start|&gt; lstrip, &lt;|im_end|&gt; rstrip and a single_word token "fool" (id 2048) added. Expected
/// ids are what Hugging Face's tokenizers (npm, Rust core 0.23.2) gave for this modified file.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class AddedTokenFlagTests
{
    private static readonly Lazy<TextTokenizer> Tokenizer = new(() =>
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TestFixtures.FortuneLlama, "tokenizer.json")))!.AsObject();
        var added = json["added_tokens"]!.AsArray();
        foreach (JsonNode? a in added)
        {
            if ((string?)a!["content"] == "<|im_start|>") a["lstrip"] = true;
            if ((string?)a["content"] == "<|im_end|>") a["rstrip"] = true;
        }
        added.Add(new JsonObject
        {
            ["id"] = 2048, ["content"] = "fool", ["single_word"] = true, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = false,
        });
        string folder = TestFixtures.Scratch("added-token-flags");
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), json.ToJsonString());
        return TextTokenizer.FromFolder(folder);
    });

    [TestMethod]
    [DataRow("a <|im_start|> b", new[] { 100, 1, 273 })]
    [DataRow("x<|im_end|>  \n y", new[] { 123, 2, 124 })]
    [DataRow("  <|im_start|><|im_end|>\t", new[] { 1, 2 })]
    [DataRow("fool foolish afool fool.", new[] { 2048, 1340, 600, 261, 105, 753, 35, 2048, 49 })]
    [DataRow("the fool<|im_end|> end", new[] { 528, 35, 2048, 2, 428 })]
    [DataRow(" <|im_start|>user\nhi<|im_end|>\n", new[] { 1, 385, 263, 13, 107, 108, 2 })]
    public void EncodeMatchesHuggingFace(string text, int[] expected) =>
        CollectionAssert.AreEqual(expected, Tokenizer.Value.Encode(text, addSpecialTokens: false));
}
