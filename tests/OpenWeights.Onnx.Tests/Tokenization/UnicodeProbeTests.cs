using System.Globalization;
using System.Text.Json;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Tokenization;

/// <summary>
/// Both byte-level tokenizers against Hugging Face's ids for 3,228 strings heavy in characters outside the BMP and in
/// wide Unicode (Data/hf-unicode-probe.json): the cases where .NET's UTF-16 regexes could split text differently.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class UnicodeProbeTests
{
    private static readonly Lazy<JsonDocument> Probe = new(() =>
        JsonDocument.Parse(File.ReadAllText(TokenizationTestData.File("hf-unicode-probe.json"))));

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow("qwen3")]
    [DataRow("fortune-llama")]
    public void EncodeAndDecodeMatchHuggingFaceOnEveryProbeString(string name)
    {
        TextTokenizer tokenizer = name == "qwen3" ? Qwen3TokenizerTests.Qwen : TextTokenizer.FromFolder(TestFixtures.FortuneLlama);
        var failures = new List<string>();
        int total = 0;
        foreach (JsonElement c in Probe.Value.RootElement.GetProperty("tokenizers").GetProperty(name).EnumerateArray())
        {
            total++;
            string text = c.GetProperty("text").GetString()!;
            int[] expected = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            int[] ids = tokenizer.Encode(text, addSpecialTokens: false);
            string decoded = tokenizer.Decode(expected, skipSpecialTokens: false);
            if (!ids.AsSpan().SequenceEqual(expected) || decoded != c.GetProperty("decoded").GetString())
                failures.Add($"{Qwen3TokenizerTests.Escape(text)}: expected [{string.Join(",", expected)}], got [{string.Join(",", ids)}]");
        }
        TestContext.WriteLine($"{name}: matched {total - failures.Count}/{total}");
        Assert.AreEqual(3228, total);
        Assert.IsEmpty(failures, string.Join("\n", failures.Take(20)));
    }

    [TestMethod]
    public void EveryStandInHasTheCategoryItStandsFor()
    {
        foreach (UnicodeCategory category in Enum.GetValues<UnicodeCategory>())
        {
            if (category is UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.Control or UnicodeCategory.Surrogate)
                continue; // no supplementary character has these
            char standIn = SplitPreTokenizer.StandIn(category);
            Assert.AreEqual(category, char.GetUnicodeCategory(standIn), $"stand-in U+{(int)standIn:X4}");
            Assert.IsGreaterThan(0x7F, (int)standIn, "stand-ins must not be ASCII (split patterns name ASCII literally)");
        }
    }
}
