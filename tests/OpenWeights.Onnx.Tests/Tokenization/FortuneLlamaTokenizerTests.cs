using System.Text.Json;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Tokenization;

/// <summary>
/// The sample model's GPT-2-style byte-level tokenizer (its post-processor puts one &lt;|endoftext|&gt; (id 0) in
/// front) against the ids and text that transformers produced (shared/models/fortune-llama/reference.json).
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class FortuneLlamaTokenizerTests
{
    private static readonly Lazy<TextTokenizer> Tokenizer = new(() => TextTokenizer.FromFolder(TestFixtures.FortuneLlama));
    private static readonly Lazy<JsonDocument> Reference = new(() =>
        JsonDocument.Parse(File.ReadAllText(TestFixtures.FortuneLlamaReference)));

    private static IEnumerable<JsonElement> GreedyResults =>
        Reference.Value.RootElement.GetProperty("greedy").GetProperty("results").EnumerateArray();

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    [TestMethod]
    public void PromptsEncodeWithSpecialTokensToTheReferenceInputIds()
    {
        int checkedCount = 0;
        foreach (JsonElement r in GreedyResults)
        {
            string prompt = r.GetProperty("prompt").GetString()!;
            int[] expected = Ints(r.GetProperty("input_ids"));
            CollectionAssert.AreEqual(expected, Tokenizer.Value.Encode(prompt, addSpecialTokens: true), prompt);
            // input_ids = [0] + tokenizer(prompt) without special tokens.
            CollectionAssert.AreEqual(expected[1..], Tokenizer.Value.Encode(prompt, addSpecialTokens: false), prompt);
            checkedCount++;
        }
        Assert.AreEqual(5, checkedCount);
    }

    [TestMethod]
    public void GeneratedIdsDecodeToTheReferenceText()
    {
        foreach (JsonElement r in GreedyResults)
        {
            int[] generated = Ints(r.GetProperty("generated_ids"));
            Assert.AreEqual(r.GetProperty("generated_text").GetString(), Tokenizer.Value.Decode(generated, skipSpecialTokens: false));

            int untilEos = r.GetProperty("first_eos_index").ValueKind == JsonValueKind.Null
                ? generated.Length
                : r.GetProperty("first_eos_index").GetInt32();
            Assert.AreEqual(r.GetProperty("text_until_eos").GetString(), Tokenizer.Value.Decode(generated.AsSpan(0, untilEos), skipSpecialTokens: false));
        }
    }

    [TestMethod]
    public void StreamingTheGeneratedIdsGivesTheReferenceText()
    {
        foreach (JsonElement r in GreedyResults)
        {
            var stream = Tokenizer.Value.CreateStreamingDetokenizer();
            string text = string.Concat(Ints(r.GetProperty("generated_ids")).Select(stream.Next)) + stream.Flush();
            Assert.AreEqual(r.GetProperty("generated_text").GetString(), text);
        }
    }

    [TestMethod]
    public void HeldOutTextEncodesToTheReferenceTokenCount()
    {
        // The perplexity protocol's ids = tokenizer(heldout.txt) without special tokens: 46,683 of them.
        int expected = Reference.Value.RootElement.GetProperty("heldout_perplexity").GetProperty("n_tokens").GetInt32();
        string text = File.ReadAllText(Path.Combine(TestFixtures.FortuneLlama, "heldout.txt"));
        int[] ids = Tokenizer.Value.Encode(text, addSpecialTokens: false);
        Assert.AreEqual(expected, ids.Length);
        Assert.AreEqual(text, Tokenizer.Value.Decode(ids, skipSpecialTokens: false));
    }

    [TestMethod]
    public void ConfigValuesComeFromTheTokenizerFiles()
    {
        TextTokenizer t = Tokenizer.Value;
        Assert.AreEqual(2048, t.VocabSize);
        Assert.AreEqual(0, t.BosTokenId);
        CollectionAssert.Contains(t.EosTokenIds.ToArray(), 0);
        CollectionAssert.AreEqual(new[] { 0 }, t.PrefixTokenIds.ToArray());
        Assert.IsEmpty(t.SuffixTokenIds);
        Assert.IsTrue(t.IsSpecialToken(0));
        StringAssert.StartsWith(t.ChatTemplate, "{% for message in messages %}");
        Assert.AreEqual("The end", t.Decode([0, .. t.Encode("The end", addSpecialTokens: false), 0], skipSpecialTokens: true));
    }
}
