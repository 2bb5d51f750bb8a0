using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Tokenization;

/// <summary>
/// The real Qwen3 tokenizer (byte-level BPE with an NFC normalizer and 26 added tokens) against the ids and text
/// that Hugging Face's tokenizers library produced for 378 strings (shared/fixtures/tokenizers/qwen3/reference.json).
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class Qwen3TokenizerTests
{
    private static readonly Lazy<TextTokenizer> Tokenizer = new(() => TextTokenizer.FromFolder(TestFixtures.Tokenizers("qwen3")));
    private static readonly Lazy<ReferenceCase[]> Cases = new(LoadCases);

    public TestContext TestContext { get; set; } = null!;

    internal sealed record ReferenceCase(int Index, string Text, int[] Ids, int[] IdsWithSpecialTokens, string Decoded);

    internal static ReferenceCase[] LoadCases()
    {
        string path = Path.Combine(TestFixtures.Tokenizers("qwen3"), "reference.json");
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select((c, i) => new ReferenceCase(
            i,
            c.GetProperty("text").GetString()!,
            c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            c.GetProperty("ids_with_special_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            c.GetProperty("decoded").GetString()!)).ToArray();
    }

    internal static TextTokenizer Qwen => Tokenizer.Value;
    internal static ReferenceCase[] ReferenceCases => Cases.Value;

    [TestMethod]
    public void ReferenceHasAllCases() => Assert.HasCount(378, Cases.Value);

    [TestMethod]
    public void EncodeWithoutSpecialTokensMatchesHuggingFaceOnEveryString()
    {
        var failures = new List<string>();
        foreach (ReferenceCase c in Cases.Value)
        {
            int[] ids = Tokenizer.Value.Encode(c.Text, addSpecialTokens: false);
            if (!ids.AsSpan().SequenceEqual(c.Ids))
                failures.Add(Describe(c, c.Ids, ids));
        }
        TestContext.WriteLine($"ids matched on {Cases.Value.Length - failures.Count}/{Cases.Value.Length} strings");
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    [TestMethod]
    public void EncodeWithSpecialTokensMatchesHuggingFaceOnEveryString()
    {
        var failures = new List<string>();
        foreach (ReferenceCase c in Cases.Value)
        {
            int[] ids = Tokenizer.Value.Encode(c.Text, addSpecialTokens: true);
            if (!ids.AsSpan().SequenceEqual(c.IdsWithSpecialTokens))
                failures.Add(Describe(c, c.IdsWithSpecialTokens, ids));
        }
        TestContext.WriteLine($"ids_with_special_tokens matched on {Cases.Value.Length - failures.Count}/{Cases.Value.Length} strings");
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    [TestMethod]
    public void DecodeMatchesHuggingFaceOnEveryString()
    {
        var failures = new List<string>();
        foreach (ReferenceCase c in Cases.Value)
        {
            string text = Tokenizer.Value.Decode(c.Ids, skipSpecialTokens: false);
            if (text != c.Decoded)
                failures.Add($"#{c.Index}: expected {Escape(c.Decoded)}, got {Escape(text)}");
        }
        TestContext.WriteLine($"decoded matched on {Cases.Value.Length - failures.Count}/{Cases.Value.Length} strings");
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    [TestMethod]
    public void ChatSpecialTokensEncodeToTheirIdsAndCanBeSkippedWhenDecoding()
    {
        TextTokenizer t = Tokenizer.Value;
        // Ids as the Qwen3 files define them: <|im_start|> 151644, <|im_end|> 151645 (special), <think> 151667 (not special).
        int[] ids = t.Encode("<|im_start|>user\nHi<|im_end|><think>", addSpecialTokens: false);
        Assert.AreEqual(151644, ids[0]);
        CollectionAssert.Contains(ids, 151645);
        Assert.AreEqual(151667, ids[^1]);
        Assert.AreEqual("user\nHi<think>", t.Decode(ids, skipSpecialTokens: true));
        Assert.AreEqual("<|im_start|>user\nHi<|im_end|><think>", t.Decode(ids, skipSpecialTokens: false));
    }

    [TestMethod]
    public void ConfigValuesComeFromTheTokenizerFiles()
    {
        TextTokenizer t = Tokenizer.Value;
        Assert.AreEqual(151669, t.VocabSize); // 151643 BPE tokens + 26 added tokens
        Assert.IsNull(t.BosTokenId);          // bos_token: null in tokenizer_config.json
        CollectionAssert.AreEqual(new[] { 151645 }, t.EosTokenIds.ToArray()); // eos_token <|im_end|>
        Assert.AreEqual(151643, t.PadTokenId); // <|endoftext|>
        Assert.IsNotNull(t.ChatTemplate);
        StringAssert.Contains(t.ChatTemplate, "<|im_start|>");
        Assert.IsEmpty(t.PrefixTokenIds);
        Assert.IsEmpty(t.SuffixTokenIds);
        Assert.AreEqual(151643, t.TokenToId("<|endoftext|>"));
        Assert.AreEqual("Ġthe", t.IdToToken(279));
    }

    private static string Describe(ReferenceCase c, int[] expected, int[] actual)
    {
        int first = 0;
        while (first < expected.Length && first < actual.Length && expected[first] == actual[first])
            first++;
        return $"#{c.Index} {Escape(c.Text)}: first difference at {first}; expected [{string.Join(",", expected)}], got [{string.Join(",", actual)}]";
    }

    internal static string Escape(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (Rune r in s.EnumerateRunes())
            sb.Append(r.Value is < 0x20 or (>= 0x7f and < 0xa0) || Rune.GetUnicodeCategory(r) is System.Globalization.UnicodeCategory.Format
                or System.Globalization.UnicodeCategory.SpaceSeparator && r.Value != ' '
                ? $"\\u{{{r.Value:x}}}"
                : r.ToString());
        return sb.Append('"').ToString();
    }
}
