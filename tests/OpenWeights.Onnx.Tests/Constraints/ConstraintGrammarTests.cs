using System.Text;
using OpenWeights.Onnx.Generation.Constraints;

namespace OpenWeights.Onnx.Tests.Constraints;

/// <summary>
/// The byte-level grammar of constrained output: which texts are whole documents, which are refused at which byte,
/// and which schemas are refused with a message naming the keyword. Texts are written by hand from JSON's and JSON
/// Schema's rules (not produced by the grammar).
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ConstraintGrammarTests
{
    internal static bool IsDocument(OutputConstraint c, string text) => Feed(c, Encoding.UTF8.GetBytes(text), out var m, out var s) && m.CanEnd(s);

    internal static bool IsPrefix(OutputConstraint c, ReadOnlySpan<byte> bytes) => Feed(c, bytes, out _, out _);

    internal static bool Feed(OutputConstraint c, ReadOnlySpan<byte> bytes, out ByteMatcher matcher, out ParserState state)
    {
        matcher = new ByteMatcher(c.Grammar, new FrameArena());
        state = ParserState.Start(c.Grammar.Root);
        foreach (byte b in bytes)
            if (!matcher.Advance(ref state, b))
                return false;
        return true;
    }

    [TestMethod]
    [DataRow("{}")]
    [DataRow("{\"a\":1}")]
    [DataRow("{\"a\": 1, \"b\": [true, false, null], \"c\": {\"d\": -0.5e+10, \"e\": \"x\\n\\u00e9\\\"é😀\"}}")]
    [DataRow("{\"\":[[],{}],\"k\\u0041\":0}")]
    [DataRow("{\"n\":[-0,0.0,1E5,12e-3]}")]
    public void JsonObjectAcceptsObjects(string text) => Assert.IsTrue(IsDocument(OutputConstraint.JsonObject(), text), text);

    [TestMethod]
    [DataRow("[]", "an array is not an object")]
    [DataRow("{\"a\":1,}", "trailing comma")]
    [DataRow("{ \"a\":1}", "space after {")]
    [DataRow("{\"a\":  1}", "two spaces")]
    [DataRow("{\"a\":\n1}", "newline")]
    [DataRow("{\"a\":01}", "leading zero")]
    [DataRow("{\"a\":\"\\ud800\"}", "escaped surrogate")]
    [DataRow("{\"a\":\"x\ny\"}", "raw control character")]
    [DataRow("{\"a\":\"\\x\"}", "bad escape")]
    [DataRow("{\"a\":tru}", "bad literal")]
    [DataRow("{\"a\":1} ", "anything after the document")]
    [DataRow("{\"a\":1}{}", "a second document")]
    [DataRow("{\"a\":1.}", "fraction without digits")]
    [DataRow("{\"a\":+1}", "plus sign")]
    [DataRow("{\"a\" :1}", "space before colon")]
    public void JsonObjectRefuses(string text, string why) => Assert.IsFalse(IsDocument(OutputConstraint.JsonObject(), text), why);

    [TestMethod]
    public void IncompleteDocumentsAreNotDocuments()
    {
        var c = OutputConstraint.JsonObject();
        Assert.IsTrue(IsPrefix(c, Encoding.UTF8.GetBytes("{\"a\":[1,")));
        Assert.IsFalse(IsDocument(c, "{\"a\":[1,"));
        Assert.IsFalse(IsDocument(c, "{\"a\":\"b"));
    }

    [TestMethod]
    public void InvalidUtf8IsRefusedInsideStrings()
    {
        var c = OutputConstraint.JsonObject();
        byte[] prefix = Encoding.UTF8.GetBytes("{\"a\":\"");
        Assert.IsFalse(IsPrefix(c, [.. prefix, 0xC0, 0x80]), "overlong");
        Assert.IsFalse(IsPrefix(c, [.. prefix, 0xED, 0xA0, 0x80]), "UTF-8 surrogate");
        Assert.IsFalse(IsPrefix(c, [.. prefix, 0xF4, 0x90, 0x80, 0x80]), "above U+10FFFF");
        Assert.IsFalse(IsPrefix(c, [.. prefix, 0x80]), "lone continuation byte");
        Assert.IsTrue(IsPrefix(c, [.. prefix, 0xE2, 0x82]), "half of '€' is a prefix");
        Assert.IsFalse(IsPrefix(c, [.. prefix, 0xE2, 0x82, (byte)'"']), "a character cut short by the quote");
    }

    private const string Person = """
        {"type":"object","properties":{
          "name":{"type":"string"},
          "age":{"type":"integer"},
          "mood":{"enum":["happy","sad",null,3]},
          "tags":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":2},
          "home":{"type":"object","properties":{"city":{"const":"Oslo"}},"required":["city"],"additionalProperties":false},
          "note":{"type":["string","null"]}
        },"required":["name","age"],"additionalProperties":false}
        """;

    [TestMethod]
    [DataRow("{\"name\":\"Ann\",\"age\":3}")]
    [DataRow("{\"age\": -12, \"name\": \"\"}")]
    [DataRow("{\"name\":\"A\",\"age\":0,\"mood\":null,\"tags\":[\"x\", \"y\"],\"home\":{\"city\":\"Oslo\"},\"note\":\"n\"}")]
    [DataRow("{\"name\":\"A\",\"age\":0,\"mood\":3,\"note\":null}")]
    [DataRow("{\"name\":\"A\",\"age\":0,\"mood\":\"sad\"}")]
    public void SchemaAcceptsValidDocuments(string text) => Assert.IsTrue(IsDocument(OutputConstraint.JsonSchema(Person), text), text);

    [TestMethod]
    [DataRow("{\"name\":\"Ann\"}", "missing required age")]
    [DataRow("{\"name\":\"Ann\",\"age\":3,\"x\":1}", "additional property")]
    [DataRow("{\"name\":\"Ann\",\"name\":\"B\",\"age\":3}", "duplicate key")]
    [DataRow("{\"name\":\"Ann\",\"age\":3.5}", "integer with a fraction")]
    [DataRow("{\"name\":\"Ann\",\"age\":1e3}", "integer with an exponent")]
    [DataRow("{\"name\":1,\"age\":3}", "wrong type")]
    [DataRow("{\"name\":\"A\",\"age\":0,\"mood\":\"glad\"}", "not in the enum")]
    [DataRow("{\"name\":\"A\",\"age\":0,\"mood\":4}", "not in the enum")]
    [DataRow("{\"name\":\"A\",\"age\":0,\"tags\":[]}", "below minItems")]
    [DataRow("{\"name\":\"A\",\"age\":0,\"tags\":[\"a\",\"b\",\"c\"]}", "above maxItems")]
    [DataRow("{\"name\":\"A\",\"age\":0,\"home\":{}}", "nested required")]
    [DataRow("{\"name\":\"A\",\"age\":0,\"home\":{\"city\":\"Bergen\"}}", "const")]
    [DataRow("{\"name\":\"A\",\"age\":0,\"note\":1}", "type list")]
    [DataRow("{\"na\\u006de\":\"A\",\"age\":0}", "escaped property name")]
    [DataRow("[]", "not an object")]
    public void SchemaRefusesInvalidDocuments(string text, string why) =>
        Assert.IsFalse(IsDocument(OutputConstraint.JsonSchema(Person), text), why);

    [TestMethod]
    public void NoDeadEndAfterAllPropertiesAreWritten()
    {
        var c = OutputConstraint.JsonSchema("""{"type":"object","properties":{"a":{"type":"boolean"}},"additionalProperties":false}""");
        Assert.IsFalse(IsPrefix(c, "{\"a\":true,"u8), "a comma with no property left to write");
        Assert.IsTrue(IsDocument(c, "{\"a\":true}"));
        Assert.IsTrue(IsDocument(c, "{}"));
    }

    [TestMethod]
    public void AdditionalPropertiesFollowTheirSchema()
    {
        var c = OutputConstraint.JsonSchema("""{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}""");
        Assert.IsTrue(IsDocument(c, "{\"a\":1,\"ab\":\"x\",\"\":\"y\"}"));
        Assert.IsFalse(IsDocument(c, "{\"ab\":1}"), "an other key holds a string");
        Assert.IsFalse(IsDocument(c, "{\"a\":1,\"a\":2}"), "a written property is not an other key");
        Assert.IsFalse(IsDocument(c, "{\"a\":\"x\"}"), "a property keeps its own schema");
    }

    [TestMethod]
    public void RootNumbersEndWhereTheyMay()
    {
        var c = OutputConstraint.JsonSchema("""{"type":"number"}""");
        Assert.IsTrue(IsDocument(c, "-1.25e7"));
        Assert.IsFalse(IsDocument(c, "-"));
        Assert.IsFalse(IsDocument(c, "1e"));
        Assert.IsFalse(IsDocument(c, "12345678901234567"), "more than 16 integer digits");
        var e = OutputConstraint.JsonSchema("""{"enum":[1,12]}""");
        Assert.IsTrue(IsDocument(e, "1") && IsDocument(e, "12"));
        Assert.IsFalse(IsDocument(e, "123"));
    }

    [TestMethod]
    public void ReferencesAndUnionsCompile()
    {
        var c = OutputConstraint.JsonSchema("""
            {"$defs":{"P":{"type":"object","properties":{"x":{"type":"number"}},"required":["x"],"additionalProperties":false}},
             "type":"object","properties":{"p":{"$ref":"#/$defs/P"},"q":{"anyOf":[{"$ref":"#/$defs/P"},{"type":"null"},{"type":"array","items":{"type":"boolean"}}]}},
             "required":["p","q"],"additionalProperties":false}
            """);
        Assert.IsTrue(IsDocument(c, "{\"p\":{\"x\":1},\"q\":null}"));
        Assert.IsTrue(IsDocument(c, "{\"q\":[true],\"p\":{\"x\":1.5}}"));
        Assert.IsFalse(IsDocument(c, "{\"p\":{\"x\":1},\"q\":\"s\"}"));
    }

    [TestMethod]
    [DataRow("""{"type":"string","pattern":"a+"}""", "#/pattern")]
    [DataRow("""{"type":"object","properties":{"age":{"type":"integer","minimum":0}}}""", "#/properties/age/minimum")]
    [DataRow("""{"anyOf":[{"type":"object"},{"type":"object","properties":{"a":{}}}]}""", "#/anyOf")]
    [DataRow("""{"$ref":"#/$defs/missing"}""", "#/$ref")]
    [DataRow("""{"$defs":{"T":{"type":"array","items":{"$ref":"#/$defs/T"}}},"$ref":"#/$defs/T"}""", "/$ref")]
    [DataRow("""{"type":"object","properties":{"a":{}},"required":["b"]}""", "#/required")]
    [DataRow("""{"type":"array","minItems":3,"maxItems":2}""", "#")]
    [DataRow("""{"type":"strin"}""", "#/type")]
    [DataRow("false", "#")]
    [DataRow("{not json", "#")]
    public void UnsupportedSchemasAreRefusedByPath(string schema, string path)
    {
        var e = Assert.ThrowsExactly<JsonSchemaException>(() => OutputConstraint.JsonSchema(schema));
        StringAssert.Contains(e.SchemaPath, path, e.Message);
    }

    [TestMethod]
    public void ComposedConstraintsWrapAJsonValue()
    {
        var args = OutputConstraint.JsonSchema("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}""");
        var call = OutputConstraint.Choice(
            OutputConstraint.Sequence(OutputConstraint.Literal("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "), args, OutputConstraint.Literal("}\n</tool_call>")),
            OutputConstraint.Sequence(OutputConstraint.Literal("<tool_call>\n{\"name\": \"get_time\", \"arguments\": "), OutputConstraint.JsonObject(), OutputConstraint.Literal("}\n</tool_call>")));
        Assert.IsTrue(IsDocument(call, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"));
        Assert.IsTrue(IsDocument(call, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
        Assert.IsFalse(IsDocument(call, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"city\": 1}}\n</tool_call>x"));
        Assert.IsFalse(IsDocument(call, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>"), "city is required");
        Assert.IsFalse(IsDocument(call, "<tool_call>\n{\"name\": \"get_date\", \"arguments\": {}}\n</tool_call>"));
        Assert.Throws<ArgumentException>(() => OutputConstraint.Choice(OutputConstraint.Literal("ab"), OutputConstraint.Literal("abc")));
        Assert.Throws<ArgumentException>(() => OutputConstraint.Choice(OutputConstraint.Literal("ab"), OutputConstraint.JsonObject()));
    }

    [TestMethod]
    public void RepeatedCallsWithSeparatorsAndBounds()
    {
        var call = OutputConstraint.Choice(
            OutputConstraint.Sequence(OutputConstraint.Literal("{\"name\": \"a\", \"arguments\": "), OutputConstraint.JsonObject(), OutputConstraint.Literal("}")),
            OutputConstraint.Sequence(OutputConstraint.Literal("{\"name\": \"b\", \"arguments\": "),
                OutputConstraint.JsonSchema("""{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"additionalProperties":false}"""),
                OutputConstraint.Literal("}")));
        var mistral = OutputConstraint.Sequence(OutputConstraint.Literal("[TOOL_CALLS]["), OutputConstraint.Repeat(call, 1, 3, ", "), OutputConstraint.Literal("]"));
        Assert.IsTrue(IsDocument(mistral, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}]"));
        Assert.IsTrue(IsDocument(mistral, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {\"n\": 12}}]"));
        string one = "{\"name\": \"b\", \"arguments\": {\"n\":1}}";
        Assert.IsTrue(IsDocument(mistral, $"[TOOL_CALLS][{one}, {one}, {one}]"));
        Assert.IsFalse(IsDocument(mistral, $"[TOOL_CALLS][{one}, {one}, {one}, {one}]"), "above the maximum");
        Assert.IsFalse(IsDocument(mistral, "[TOOL_CALLS][]"), "below the minimum");
        Assert.IsFalse(IsDocument(mistral, $"[TOOL_CALLS][{one},{one}]"), "the separator is exact");

        var hermes = OutputConstraint.Repeat(OutputConstraint.Sequence(OutputConstraint.Literal("<tool_call>\n"), call, OutputConstraint.Literal("\n</tool_call>")),
            separator: "\n");
        string block = $"<tool_call>\n{one}\n</tool_call>";
        Assert.IsTrue(IsDocument(hermes, block));
        Assert.IsTrue(IsDocument(hermes, block + "\n" + block));
        Assert.IsFalse(IsDocument(hermes, block + "\n"), "a separator promises another call");
        Assert.IsTrue(IsPrefix(hermes, Encoding.UTF8.GetBytes(block + "\n<tool")));

        var optional = OutputConstraint.Sequence(OutputConstraint.Literal("<"), OutputConstraint.Repeat(OutputConstraint.Literal("a"), 0, 2), OutputConstraint.Literal(">"));
        Assert.IsTrue(IsDocument(optional, "<>") && IsDocument(optional, "<a>") && IsDocument(optional, "<aa>"));
        Assert.IsFalse(IsDocument(optional, "<aaa>"));
    }
}
