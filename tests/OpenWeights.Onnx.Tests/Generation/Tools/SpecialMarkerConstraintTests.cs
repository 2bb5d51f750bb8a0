using System.Text.Json.Nodes;
using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Generation.Tools;

/// <summary>
/// A call marker that is a special token of the tokenizer (Mistral's <c>[TOOL_CALLS]</c>, Llama's
/// <c>&lt;|python_tag|&gt;</c>) may be written as that token wherever the constraint allows its text, and only there;
/// other special tokens stay masked. The tokenizer is the sample's with the two markers added as special tokens.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class SpecialMarkerConstraintTests
{
    private const int ToolCalls = 2048, PythonTag = 2049, Args = 2050;

    private static readonly Lazy<TextTokenizer> Tokenizer = new(() =>
    {
        string dir = TestFixtures.Scratch("special-markers");
        foreach (string name in new[] { "tokenizer_config.json", "generation_config.json", "special_tokens_map.json" })
            File.Copy(Path.Combine(TestFixtures.FortuneLlama, name), Path.Combine(dir, name));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TestFixtures.FortuneLlama, "tokenizer.json")))!.AsObject();
        var added = json["added_tokens"]!.AsArray();
        foreach (var (id, content) in new[] { (ToolCalls, "[TOOL_CALLS]"), (PythonTag, "<|python_tag|>"), (Args, "[ARGS]") })
            added.Add(new JsonObject
            {
                ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            });
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        return TextTokenizer.FromFolder(dir);
    });

    private static readonly ToolDefinition[] Tools = [new("get_time", null, null)];

    private static bool Allowed(ConstraintMatcher matcher, int token)
    {
        var logits = new float[Tokenizer.Value.VocabSize];
        matcher.Mask(logits);
        bool allowed = !float.IsNegativeInfinity(logits[token]);
        Assert.AreEqual(allowed, matcher.Allows(token), "Mask and Allows agree");
        return allowed;
    }

    [TestMethod]
    public void AForcedMistralCallMayOpenWithTheSpecialToken()
    {
        var tokenizer = Tokenizer.Value;
        Assert.IsTrue(tokenizer.IsSpecialToken(ToolCalls));
        var matcher = ToolCallConstraint.For(ToolCallFormat.Mistral, Tools, ToolChoice.Required).Start(tokenizer);
        Assert.IsTrue(Allowed(matcher, ToolCalls), "the marker, as its special token");
        Assert.IsFalse(Allowed(matcher, PythonTag), "another format's marker is not in this grammar");
        Assert.IsFalse(Allowed(matcher, tokenizer.EosTokenIds[0]), "EOS is the caller's to allow");

        matcher.Accept(tokenizer.TokenBytes(ToolCalls));
        Assert.IsFalse(Allowed(matcher, ToolCalls), "after the marker, the list");
        matcher.Accept("[{\"name\": \"get_time\", \"arguments\": {}}]"u8);
        Assert.IsTrue(matcher.IsComplete);
    }

    [TestMethod]
    public void InAutoModeTheSpecialMarkerOpensACallAndIsRefusedPastTheBound()
    {
        var tokenizer = Tokenizer.Value;
        var matcher = ToolCallConstraint.Auto(ToolCallFormat.Llama3, Tools, parallelCalls: false).Start(tokenizer);
        matcher.Accept("Let me look that up. "u8);
        Assert.IsTrue(Allowed(matcher, PythonTag), "free text may open a call with the special token");
        matcher.Accept(tokenizer.TokenBytes(PythonTag));
        Assert.IsFalse(matcher.InFreeText);
        Assert.IsFalse(Allowed(matcher, PythonTag));
        matcher.Accept("{\"name\": \"get_time\", \"parameters\": {}} Done."u8);
        Assert.IsTrue(matcher.InFreeText);
        Assert.IsFalse(Allowed(matcher, PythonTag), "one call without parallel calls: no second marker");
        Assert.IsTrue(matcher.CanEnd);
    }

    [TestMethod]
    public void MistralsNameArgsFormatMayUseBothSpecialTokens()
    {
        var tokenizer = Tokenizer.Value;
        var matcher = ToolCallConstraint.Auto(ToolCallFormat.MistralArgs, Tools, parallelCalls: true).Start(tokenizer);
        Assert.IsTrue(Allowed(matcher, ToolCalls));
        Assert.IsFalse(Allowed(matcher, Args), "[ARGS] only after a function's name");
        matcher.Accept(tokenizer.TokenBytes(ToolCalls));
        matcher.Accept("get_"u8);
        Assert.IsFalse(Allowed(matcher, Args), "not after part of a name");
        matcher.Accept("time"u8);
        Assert.IsTrue(Allowed(matcher, Args));
        matcher.Accept(tokenizer.TokenBytes(Args));
        matcher.Accept("{}"u8);
        Assert.IsTrue(matcher.InFreeText);
        Assert.IsTrue(Allowed(matcher, ToolCalls), "another call may follow");
    }
}
