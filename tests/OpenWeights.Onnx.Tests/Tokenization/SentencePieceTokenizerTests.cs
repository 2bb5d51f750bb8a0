using System.Text.Json;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Tokenization;

/// <summary>
/// SentencePiece-style BPE ('▁' for spaces, &lt;0xNN&gt; byte fallback) in the three tokenizer.json layouts that
/// transformers' converters write — Llama 2 (Prepend + Replace normalizer, Strip decoder), Llama/Mistral with
/// legacy=False (Metaspace, prepend_scheme "first") and Gemma (no dummy prefix) — against the ids and text of Hugging
/// Face's tokenizers library for 540 strings (Data/sp-bpe: a small vocabulary learnt for the test, see make_vocab.py).
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class SentencePieceTokenizerTests
{
    private static readonly Lazy<JsonDocument> Reference = new(() =>
        JsonDocument.Parse(File.ReadAllText(TokenizationTestData.File("sp-bpe/reference.json"))));

    public TestContext TestContext { get; set; } = null!;

    private static TextTokenizer Load(string variant) =>
        TextTokenizer.FromFolder(Path.GetDirectoryName(TokenizationTestData.File($"sp-bpe/{variant}/tokenizer.json"))!);

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    [TestMethod]
    [DataRow("llama2")]
    [DataRow("metaspace")]
    [DataRow("gemma")]
    public void EncodeAndDecodeMatchHuggingFaceOnEveryString(string variant)
    {
        TextTokenizer tokenizer = Load(variant);
        var failures = new List<string>();
        int total = 0;
        foreach (JsonElement c in Reference.Value.RootElement.GetProperty("variants").GetProperty(variant).EnumerateArray())
        {
            total++;
            string text = c.GetProperty("text").GetString()!;
            int[] ids = Ints(c.GetProperty("ids")), withSpecial = Ints(c.GetProperty("ids_with_special_tokens"));
            int[] mine = tokenizer.Encode(text, addSpecialTokens: false), mineWithSpecial = tokenizer.Encode(text, addSpecialTokens: true);
            string decoded = tokenizer.Decode(withSpecial, skipSpecialTokens: false);
            string decodedSkip = tokenizer.Decode(withSpecial, skipSpecialTokens: true);
            if (!mine.AsSpan().SequenceEqual(ids))
                failures.Add($"{Qwen3TokenizerTests.Escape(text)}: ids [{string.Join(",", ids)}], got [{string.Join(",", mine)}]");
            if (!mineWithSpecial.AsSpan().SequenceEqual(withSpecial))
                failures.Add($"{Qwen3TokenizerTests.Escape(text)}: ids with special tokens [{string.Join(",", withSpecial)}], got [{string.Join(",", mineWithSpecial)}]");
            if (decoded != c.GetProperty("decoded").GetString())
                failures.Add($"{Qwen3TokenizerTests.Escape(text)}: decoded {Qwen3TokenizerTests.Escape(c.GetProperty("decoded").GetString()!)}, got {Qwen3TokenizerTests.Escape(decoded)}");
            if (decodedSkip != c.GetProperty("decoded_skip_special").GetString())
                failures.Add($"{Qwen3TokenizerTests.Escape(text)}: decoded (skip special) {Qwen3TokenizerTests.Escape(c.GetProperty("decoded_skip_special").GetString()!)}, got {Qwen3TokenizerTests.Escape(decodedSkip)}");
        }
        TestContext.WriteLine($"{variant}: {total - failures.Count} of {total} strings without a difference");
        Assert.AreEqual(540, total);
        Assert.IsEmpty(failures, string.Join("\n", failures.Take(20)));
    }

    [TestMethod]
    public void StreamingStripsTheDummyPrefixOnceAndHoldsBackFallbackBytes()
    {
        TextTokenizer tokenizer = Load("llama2");
        const string text = "Hi 🦩 there"; // 🦩 is not in the vocabulary: four <0xNN> pieces
        int[] ids = tokenizer.Encode(text, addSpecialTokens: true);
        var stream = tokenizer.CreateStreamingDetokenizer(skipSpecialTokens: true);
        var fragments = ids.Select(stream.Next).ToList();
        fragments.Add(stream.Flush());
        Assert.AreEqual(text, string.Concat(fragments)); // the "▁" of "▁Hi" is the dummy prefix: dropped
        Assert.AreEqual(tokenizer.Decode(ids, skipSpecialTokens: true), string.Concat(fragments));
        Assert.IsTrue(fragments.Contains("🦩"), "the emoji's four byte-fallback tokens come out as one fragment");
        Assert.IsTrue(fragments.Count(f => f.Length == 0) >= 3, "the first three bytes of the emoji are held back");
    }

    [TestMethod]
    public void ConfigValuesComeFromTheTokenizerFiles()
    {
        TextTokenizer tokenizer = Load("llama2");
        Assert.AreEqual(1, tokenizer.BosTokenId);
        CollectionAssert.AreEqual(new[] { 2 }, tokenizer.EosTokenIds.ToArray());
        CollectionAssert.AreEqual(new[] { 1 }, tokenizer.PrefixTokenIds.ToArray());
        Assert.IsTrue(tokenizer.IsSpecialToken(1));
        Assert.IsFalse(tokenizer.IsSpecialToken(tokenizer.TokenToId("<tool>")!.Value));
        Assert.IsNotNull(tokenizer.ChatTemplate);
    }
}
