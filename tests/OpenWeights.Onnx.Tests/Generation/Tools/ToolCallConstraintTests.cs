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
/// is refused, a non-strict one is held to "a JSON object".
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
}
