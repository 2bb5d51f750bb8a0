using System.Text;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Generation.Tools;

/// <summary>
/// A forced call's constraint admits exactly the calls the request allows, in the format's syntax: a declared
/// (or the named) function with arguments valid against its schema; a strict function whose schema cannot be enforced
/// is refused, a non-strict one is held to "a JSON object". With parallel calls, 1 to
/// <see cref="ToolCallConstraint.MaxParallelCalls"/> calls. In auto mode, text is free and each call it opens is held
/// to the same rules.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ToolCallConstraintTests
{
    private static readonly Lazy<TextTokenizer> Tokenizer = new(() => TextTokenizer.FromFolder(TestFixtures.FortuneLlama));

    private static ToolDefinition Tool(string name, string? schema, bool strict = false) =>
        new(name, null, schema is null ? null : (JsonObject)JsonNode.Parse(schema)!, strict);

    private static readonly ToolDefinition Forecast =
        Tool("get_forecast", """{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Oslo"]}},"required":["city"],"additionalProperties":false}""");
    private static readonly ToolDefinition Time = Tool("get_time", null);

    /// <summary>Whether the constraint takes <paramref name="text"/> whole and is then complete.</summary>
    private static bool Admits(OutputConstraint constraint, string text)
    {
        var matcher = constraint.Start(Tokenizer.Value);
        try
        {
            matcher.Accept(Encoding.UTF8.GetBytes(text));
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        return matcher.IsComplete;
    }

    /// <summary>Whether the constraint takes <paramref name="text"/> whole and may end there (EOS allowed).</summary>
    private static bool MayEnd(OutputConstraint constraint, string text)
    {
        var matcher = constraint.Start(Tokenizer.Value);
        try
        {
            matcher.Accept(Encoding.UTF8.GetBytes(text));
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        return matcher.CanEnd;
    }

    /// <summary>Whether the constraint takes <paramref name="text"/> as the beginning of something (ending or not).</summary>
    private static bool Takes(OutputConstraint constraint, string text)
    {
        var matcher = constraint.Start(Tokenizer.Value);
        try
        {
            matcher.Accept(Encoding.UTF8.GetBytes(text));
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Calls as the format writes several: each call's prefix (the first's, then the separators), arguments, suffix.</summary>
    private static string Calls(ToolCallFormat format, params (string Name, string Arguments)[] calls) =>
        string.Concat(calls.Select((c, i) => format.CallPrefix(c.Name, first: i == 0) + c.Arguments + format.CallSuffix)) + format.CallsEnd;

    private static string Call(ToolCallFormat format, string name, string arguments) =>
        format.CallPrefix(name, first: true) + arguments + format.CallSuffix + format.CallsEnd;

    [TestMethod]
    public void RequiredAdmitsAnyDeclaredFunctionWithValidArgumentsInEachFormat()
    {
        foreach (var format in ToolCallFormat.All)
        {
            var constraint = ToolCallConstraint.For(format, [Forecast, Time], ToolChoice.Required);
            Assert.IsTrue(Admits(constraint, Call(format, "get_forecast", """{"city": "Paris"}""")), format.Name);
            Assert.IsTrue(Admits(constraint, Call(format, "get_time", "{}")), format.Name);
            Assert.IsFalse(Admits(constraint, Call(format, "get_forecast", """{"city": "Rome"}""")), $"{format.Name}: outside the enum");
            Assert.IsFalse(Admits(constraint, Call(format, "get_forecast", """{"city": "Paris", "x": 1}""")), $"{format.Name}: extra member");
            Assert.IsFalse(Admits(constraint, Call(format, "get_time", """{"now": true}""")), $"{format.Name}: no parameters");
            Assert.IsFalse(Admits(constraint, Call(format, "delete_all", "{}")), $"{format.Name}: undeclared");
            Assert.IsFalse(Admits(constraint, "Sure, let me check."), $"{format.Name}: text instead of a call");
        }
    }

    [TestMethod]
    public void ANamedFunctionIsTheOnlyOneAdmitted()
    {
        var constraint = ToolCallConstraint.For(ToolCallFormat.Hermes, [Forecast, Time], ToolChoice.Function("get_time"));
        Assert.IsTrue(Admits(constraint, Call(ToolCallFormat.Hermes, "get_time", "{}")));
        Assert.IsFalse(Admits(constraint, Call(ToolCallFormat.Hermes, "get_forecast", """{"city": "Paris"}""")));
    }

    [TestMethod]
    public void AnUnenforceableSchemaIsRefusedWhenStrictAndAnyObjectOtherwise()
    {
        const string withPattern = """{"type":"object","properties":{"code":{"type":"string","pattern":"^[a-z]+$"}}}""";
        var loose = ToolCallConstraint.For(ToolCallFormat.Hermes, [Tool("lookup", withPattern)], ToolChoice.Required);
        Assert.IsTrue(Admits(loose, Call(ToolCallFormat.Hermes, "lookup", """{"anything": [1, 2]}""")));
        Assert.IsFalse(Admits(loose, Call(ToolCallFormat.Hermes, "lookup", "[1, 2]")), "still an object");

        var e = Assert.ThrowsExactly<JsonSchemaException>(() =>
            ToolCallConstraint.For(ToolCallFormat.Hermes, [Tool("lookup", withPattern, strict: true)], ToolChoice.Required));
        StringAssert.Contains(e.Message, "lookup");
        StringAssert.Contains(e.Message, "pattern");
    }

    [TestMethod]
    public void ParallelRequiredAdmitsOneToTheBoundOfCallsInEachFormat()
    {
        var paris = ("get_forecast", """{"city": "Paris"}""");
        var time = ("get_time", "{}");
        foreach (var format in ToolCallFormat.All)
        {
            var parallel = ToolCallConstraint.For(format, [Forecast, Time], ToolChoice.Required, parallelCalls: true);
            Assert.IsTrue(MayEnd(parallel, Calls(format, paris)), $"{format.Name}: one call");
            Assert.IsTrue(MayEnd(parallel, Calls(format, paris, time, paris)), $"{format.Name}: three calls");
            Assert.IsFalse(MayEnd(parallel, Calls(format, paris, ("get_forecast", """{"city": "Rome"}"""))), $"{format.Name}: a later call is checked too");
            var most = Enumerable.Repeat(time, ToolCallConstraint.MaxParallelCalls).ToArray();
            Assert.IsTrue(Admits(parallel, Calls(format, most)), $"{format.Name}: the bound is complete");
            Assert.IsFalse(MayEnd(parallel, Calls(format, [.. most, time])), $"{format.Name}: one past the bound");

            var single = ToolCallConstraint.For(format, [Forecast, Time], ToolChoice.Required, parallelCalls: false);
            Assert.IsTrue(Admits(single, Calls(format, paris)), format.Name);
            Assert.IsFalse(MayEnd(single, Calls(format, paris, time)), $"{format.Name}: no parallel calls");
            var named = ToolCallConstraint.For(format, [Forecast, Time], ToolChoice.Function("get_time"), parallelCalls: true);
            Assert.IsFalse(MayEnd(named, Calls(format, time, time)), $"{format.Name}: a named function is called once");
        }
    }

    [TestMethod]
    public void AutoLeavesTextFreeAndHoldsEachCallItOpensToTheRules()
    {
        foreach (var format in ToolCallFormat.All)
        {
            var auto = ToolCallConstraint.Auto(format, [Forecast, Time], parallelCalls: true);
            string paris = Calls(format, ("get_forecast", """{"city": "Paris"}"""));
            Assert.IsTrue(MayEnd(auto, "Any text at all, { braces } and <tags>."), $"{format.Name}: free text");
            Assert.IsTrue(MayEnd(auto, ""), $"{format.Name}: an empty answer");
            string before = format.BareObjectAtStart ? "" : "Let me check. ";
            Assert.IsTrue(MayEnd(auto, before + paris), $"{format.Name}: text then a call");
            Assert.IsFalse(MayEnd(auto, before + Calls(format, ("get_forecast", """{"city": "Rome"}"""))), $"{format.Name}: arguments outside the schema");
            Assert.IsFalse(MayEnd(auto, before + Calls(format, ("delete_all", "{}"))), $"{format.Name}: an undeclared function");
            Assert.IsFalse(MayEnd(auto, before + paris[..^3]), $"{format.Name}: an unfinished call cannot end the answer");
            Assert.IsFalse(Takes(auto, before + format.Marker + "I changed my mind"), $"{format.Name}: after the marker, a call");
        }
    }

    [TestMethod]
    public void AutoCallsAreBoundedAndTextResumesAfterEach()
    {
        var hermes = ToolCallFormat.Hermes;
        string call = Calls(hermes, ("get_time", "{}"));
        var one = ToolCallConstraint.Auto(hermes, [Forecast, Time], parallelCalls: false);
        Assert.IsTrue(MayEnd(one, "Sure. " + call + " Done."), "text after the call");
        Assert.IsFalse(Takes(one, call + "\n" + call), "without parallel calls the marker cannot be written again");
        Assert.IsFalse(Takes(one, call + " and <tool_call>"), "nor mentioned in text");
        Assert.IsTrue(MayEnd(one, "a <tool_cal> that is not the marker"), "a near miss is text");

        var several = ToolCallConstraint.Auto(hermes, [Forecast, Time], parallelCalls: true);
        string most = string.Join("\n", Enumerable.Repeat(call, ToolCallConstraint.MaxParallelCalls));
        Assert.IsTrue(MayEnd(several, most));
        Assert.IsFalse(Takes(several, most + "\n" + call), "one past the bound");

        // Llama: a "{" opening the answer is a call; later, braces are text.
        var llama = ToolCallConstraint.Auto(ToolCallFormat.Llama3, [Forecast, Time], parallelCalls: true);
        Assert.IsFalse(Takes(llama, "  {\"x\": 1}"), "an object opening the answer is a call");
        Assert.IsTrue(MayEnd(llama, "Here: {\"x\": 1}"), "an object inside text is text");
    }
}
