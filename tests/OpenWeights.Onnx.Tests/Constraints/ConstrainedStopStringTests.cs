using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Constraints;

/// <summary>
/// Stop strings against constrained output: they are matched only in free text, never inside a constrained document,
/// so a response_format document or a tool call always ends whole. The sequence core is driven token by token with
/// logits that make each wanted token the greedy choice (no model needed); the constraint still masks every step.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ConstrainedStopStringTests
{
    private static readonly Lazy<TextTokenizer> Tokenizer = new(() => TextTokenizer.FromFolder(TestFixtures.FortuneLlama));

    /// <summary>Generates <paramref name="text"/> (as the tokenizer splits it) and returns the released text and the finish.</summary>
    private static (string Text, FinishReason? Finish) Drive(string text, GenerationOptions options)
    {
        var tokenizer = Tokenizer.Value;
        var sequence = new SequenceGenerator(tokenizer.VocabSize, tokenizer.EosTokenIds, maxLength: 512, ropeSwitchLength: null);
        sequence.Begin([1], options, tokenizer);
        var released = new System.Text.StringBuilder();
        foreach (int id in tokenizer.Encode(text, addSpecialTokens: false))
        {
            var logits = new float[tokenizer.VocabSize];
            logits[id] = 10f;
            Assert.IsTrue(sequence.Advance(logits), $"token {id} was produced");
            released.Append(sequence.CurrentText);
            if (sequence.Finish is not null)
                break;
        }
        released.Append(sequence.FlushText());
        return (released.ToString(), sequence.Finish);
    }

    [TestMethod]
    public void AStopStringInsideAJsonDocumentDoesNotCutIt()
    {
        const string schema = """{"type":"object","properties":{"a":{"type":"integer"},"b":{"enum":["x, y","z"]}},"required":["a","b"],"additionalProperties":false}""";
        const string document = """{"a": 1, "b": "x, y"}""";
        var (text, finish) = Drive(document, new GenerationOptions
        {
            MaxNewTokens = 64, Constraint = OutputConstraint.JsonSchema(schema), StopStrings = [",", "\"b\""],
        });
        Assert.AreEqual(document, text);
        Assert.AreEqual(FinishReason.Stop, finish, "finished because the document is complete");
        Assert.IsNull(SchemaValidation.Problem(schema, text));
    }

    [TestMethod]
    public void InAutoToolModeStopStringsCutTheTextButNeverACall()
    {
        var tools = new[] { new ToolDefinition("get_time", null, null) };
        var auto = ToolCallConstraint.Auto(ToolCallFormat.Hermes, tools, parallelCalls: true);
        string call = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";

        // Inside the call: "name" and "</" are not matched; after it, in text again, "STOP" is.
        var (text, finish) = Drive("Checking. " + call + " Then STOP here.", new GenerationOptions
        {
            MaxNewTokens = 128, Constraint = auto, StopStrings = ["name", "</", "STOP"],
        });
        Assert.AreEqual("Checking. " + call + " Then ", text);
        Assert.AreEqual(FinishReason.Stop, finish);
        var (content, calls) = ToolCallReader.Parse(ToolCallFormat.Hermes, tools, text);
        Assert.AreEqual(1, calls.Count);
        Assert.AreEqual("{}", calls[0].Arguments);
        Assert.AreEqual("Checking.Then", content, "the reader trims the spaces around calls");

        // In the text before any call, a stop string ends the answer as it always did.
        (text, finish) = Drive("Nothing to call, STOP.", new GenerationOptions { MaxNewTokens = 64, Constraint = auto, StopStrings = ["STOP"] });
        Assert.AreEqual("Nothing to call, ", text);
        Assert.AreEqual(FinishReason.Stop, finish);
    }
}
