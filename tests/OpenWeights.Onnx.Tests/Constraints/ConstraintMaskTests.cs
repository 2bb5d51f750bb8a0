using System.Text;
using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Tests.Tokenization;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Constraints;

/// <summary>
/// Token masks over a real large vocabulary (Qwen3, 151 669 ids): the trie walk must allow exactly the tokens whose
/// bytes, fed one by one to the grammar, continue the document — checked token by token over the whole vocabulary
/// at states inside and between values — and never a special token.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ConstraintMaskTests
{
    private static TextTokenizer Qwen => Qwen3TokenizerTests.Qwen;

    private static readonly OutputConstraint Schema = OutputConstraint.JsonSchema("""
        {"type":"object","properties":{"city":{"type":"string"},"days":{"type":"array","items":{"type":"integer"},"maxItems":3},
         "unit":{"enum":["celsius","fahrenheit"]},"ok":{"type":"boolean"}},"required":["city","unit"],"additionalProperties":false}
        """);

    [TestMethod]
    [DataRow("")]
    [DataRow("{")]
    [DataRow("{\"")]
    [DataRow("{\"city\": \"Os")]
    [DataRow("{\"city\":\"Oslo\",")]
    [DataRow("{\"city\":\"Oslo\", \"days\":[1")]
    [DataRow("{\"city\":\"Oslo\",\"days\":[1,2,3")]
    [DataRow("{\"city\":\"Oslo\",\"unit\":\"c")]
    [DataRow("{\"city\":\"Oslo\",\"unit\":\"celsius\"")]
    public void MaskEqualsTokenByTokenCheck(string prefix)
    {
        var (_, _, allowed) = MaskAgainstTokenByTokenCheck(Schema, prefix);
        Assert.IsGreaterThan(0, allowed, $"after '{prefix}' some token must continue");
    }

    /// <summary>
    /// The matcher's mask after <paramref name="prefix"/> against the definition: a (non-special, non-empty) token is
    /// allowed exactly when prefix + its bytes is still a prefix of some document the constraint accepts.
    /// </summary>
    private static (ConstraintMatcher Matcher, float[] Logits, int Allowed) MaskAgainstTokenByTokenCheck(OutputConstraint constraint, string prefix)
    {
        var matcher = constraint.Start(Qwen);
        byte[] prefixBytes = Encoding.UTF8.GetBytes(prefix);
        if (prefixBytes.Length > 0)
            matcher.Accept(prefixBytes);
        var logits = new float[Qwen.VocabSize];
        matcher.Mask(logits);
        int allowed = 0;
        for (int id = 0; id < Qwen.VocabSize; id++)
        {
            byte[] token = Qwen.TokenBytes(id).ToArray();
            bool expected = !Qwen.IsSpecialToken(id) && token.Length > 0 &&
                            ConstraintGrammarTests.IsPrefix(constraint, [.. prefixBytes, .. token]);
            if (expected == float.IsNegativeInfinity(logits[id]))
                Assert.Fail($"after '{prefix}': token {id} {Encoding.UTF8.GetString(token)} expected {(expected ? "allowed" : "masked")}");
            if (expected)
                allowed++;
        }
        return (matcher, logits, allowed);
    }

    private static readonly OutputConstraint AutoCalls = OpenWeights.Onnx.Generation.Tools.ToolCallConstraint.Auto(
        OpenWeights.Onnx.Generation.Tools.ToolCallFormat.Hermes,
        [
            new("get_forecast", null, (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(
                """{"type":"object","properties":{"city":{"enum":["Paris","Oslo"]},"days":{"type":"integer"}},"required":["city"],"additionalProperties":false}""")!),
            new("get_time", null, null),
        ],
        parallelCalls: false);

    /// <summary>
    /// Auto tool calls on Qwen3's real vocabulary, where <c>&lt;tool_call&gt;</c> is one added (not special) token:
    /// free text allows it and nearly everything else, after it only the call's syntax, after the call free text
    /// again (without the marker, one call being allowed). Each state's mask equals the token-by-token check.
    /// </summary>
    [TestMethod]
    [DataRow("")]
    [DataRow("Let me check <tool_")]
    [DataRow("Sure. <tool_call>")]
    [DataRow("<tool_call>\n{\"name\": \"get_")]
    [DataRow("<tool_call>\n{\"name\": \"get_forecast\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call> And")]
    public void AutoToolCallMaskEqualsTokenByTokenCheck(string prefix)
    {
        var (matcher, logits, allowed) = MaskAgainstTokenByTokenCheck(AutoCalls, prefix);
        bool marker = !float.IsNegativeInfinity(logits[Qwen.TokenToId("<tool_call>")!.Value]);
        bool inText = prefix is "" or "Let me check <tool_";
        Assert.AreEqual(inText, marker, "the marker token is allowed exactly where a call may open");
        Assert.AreEqual(inText || prefix.EndsWith("And", StringComparison.Ordinal), matcher.InFreeText);
        if (matcher.InFreeText)
            Assert.IsGreaterThan(Qwen.VocabSize * 9 / 10, allowed, "free text is (nearly) free");
        else
            Assert.IsLessThan(Qwen.VocabSize / 10, allowed, "inside a call only its syntax");
    }

    [TestMethod]
    public void InsideAStringMostTokensAreAllowedAndTheStateIsCached()
    {
        var matcher = OutputConstraint.JsonObject().Start(Qwen);
        matcher.Accept("{\"a\":\"x"u8);
        var logits = new float[Qwen.VocabSize];
        matcher.Mask(logits);
        int allowed = logits.Count(l => l == 0f);
        Assert.IsGreaterThan(Qwen.VocabSize / 2, allowed, "inside a string most tokens continue");
        Assert.IsTrue(float.IsNegativeInfinity(logits[Qwen.TokenToId("<|im_end|>")!.Value]), "special tokens are masked");

        long walks = matcher.MaskWalks;
        matcher.Accept("yz"u8);
        matcher.Mask(new float[Qwen.VocabSize]);
        Assert.AreEqual(walks, matcher.MaskWalks, "the same parser state reuses its mask");
    }

    [TestMethod]
    public void CompleteDocumentEndsTheMatcher()
    {
        var matcher = Schema.Start(Qwen);
        matcher.Accept("{\"unit\": \"celsius\", \"city\": \"Oslo\""u8);
        Assert.IsFalse(matcher.IsComplete);
        Assert.IsFalse(matcher.CanEnd);
        matcher.Accept("}"u8);
        Assert.IsTrue(matcher.CanEnd);
        Assert.IsTrue(matcher.IsComplete);
    }

    [TestMethod]
    public void RepetitionMayEndOrGoOnUntilItsMaximum()
    {
        var matcher = OutputConstraint.Repeat(OutputConstraint.Literal("<call/>"), 1, 2, separator: "\n").Start(Qwen);
        matcher.Accept("<call/>"u8);
        Assert.IsTrue(matcher.CanEnd, "one call is enough");
        Assert.IsFalse(matcher.IsComplete, "a second may follow");
        var logits = new float[Qwen.VocabSize];
        matcher.Mask(logits);
        Assert.AreEqual(0f, logits[Qwen.Encode("\n", addSpecialTokens: false).Single()], "the separator is allowed");
        matcher.Accept("\n<call/>"u8);
        Assert.IsTrue(matcher.IsComplete, "the maximum ends it");
    }

    [TestMethod]
    public void SentencePieceFirstTokenIsMaskedByItsTextWithoutTheDummySpace()
    {
        var tokenizer = TextTokenizer.FromFolder(Path.GetDirectoryName(TokenizationTestData.File("sp-bpe/llama2/tokenizer.json"))!);
        Assert.IsTrue(tokenizer.Bytes.StripLeadingSpace, "the fixture's decoder strips the dummy prefix");
        var constraint = OutputConstraint.JsonObject();
        var matcher = constraint.Start(tokenizer);
        var logits = new float[tokenizer.VocabSize];
        matcher.Mask(logits);
        int allowed = 0;
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            byte[] bytes = tokenizer.TokenBytes(id).ToArray();
            byte[] text = bytes.Length > 0 && bytes[0] == (byte)' ' ? bytes[1..] : bytes;
            bool expected = !tokenizer.IsSpecialToken(id) && text.Length > 0 && ConstraintGrammarTests.IsPrefix(constraint, text);
            Assert.AreEqual(expected, !float.IsNegativeInfinity(logits[id]), $"token {id} '{Encoding.UTF8.GetString(bytes)}'");
            if (expected)
                allowed++;
        }
        Assert.IsGreaterThan(0, allowed);

        // What the sequence decodes to is what the matcher saw: " {" as a first token is "{".
        int brace = tokenizer.Encode("{", addSpecialTokens: false)[^1];
        if (tokenizer.TokenBytes(brace).SequenceEqual(" {"u8))
        {
            matcher.Accept(tokenizer.TokenBytes(brace));
            Assert.IsTrue(ConstraintGrammarTests.IsPrefix(constraint, Encoding.UTF8.GetBytes(tokenizer.Decode([brace], skipSpecialTokens: true))));
        }
    }
}
