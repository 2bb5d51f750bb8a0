using System.Text.Json;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Generation.Tools;

namespace OpenWeights.Onnx.Tests.Generation.Tools;

/// <summary>
/// Model answers in each family's own tool-call syntax (as their chat templates teach it) read back into calls:
/// whole and token by token, parallel calls, text around calls, and what must never become a call (an undeclared
/// function, arguments that do not parse, a cut-off block).
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ToolCallReaderTests
{
    private static readonly ToolDefinition[] Tools =
    [
        new("get_weather", "Weather in a city.", (JsonObject)JsonNode.Parse("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""")!),
        new("get_time", null, null),
    ];

    private static void AssertCall(ToolCall call, string name, string argumentsJson)
    {
        Assert.AreEqual(name, call.Name);
        StringAssert.StartsWith(call.Id, "call_");
        Assert.AreEqual(29, call.Id.Length, call.Id);
        Assert.IsTrue(JsonNode.DeepEquals(JsonNode.Parse(argumentsJson), JsonNode.Parse(call.Arguments)), call.Arguments);
    }

    [TestMethod]
    public void HermesCallsAreReadWithTheTextBeforeThem()
    {
        const string answer = "Let me check both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n" +
                              "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
        var (content, calls) = ToolCallReader.Parse(ToolCallFormat.Hermes, Tools, answer);
        Assert.AreEqual("Let me check both.", content);
        Assert.HasCount(2, calls);
        AssertCall(calls[0], "get_weather", """{"city":"Paris"}""");
        AssertCall(calls[1], "get_time", "{}");
        Assert.AreNotEqual(calls[0].Id, calls[1].Id);
    }

    [TestMethod]
    public void Llama3BareJsonAndPythonTagCallsAreRead()
    {
        var (content, calls) = ToolCallReader.Parse(ToolCallFormat.Llama3, Tools, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}");
        Assert.IsNull(content);
        AssertCall(calls.Single(), "get_weather", """{"city":"Oslo"}""");

        (content, calls) = ToolCallReader.Parse(ToolCallFormat.Llama3, Tools,
            "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}; {\"name\": \"get_time\", \"parameters\": {}}");
        Assert.IsNull(content);
        Assert.HasCount(2, calls);
        AssertCall(calls[0], "get_weather", """{"city":"Rome"}""");
        AssertCall(calls[1], "get_time", "{}");
    }

    [TestMethod]
    public void Llama3TextThatMerelyContainsBracesIsText()
    {
        const string answer = "The JSON would be {\"name\": \"get_weather\"} but I will not call it.";
        var (content, calls) = ToolCallReader.Parse(ToolCallFormat.Llama3, Tools, answer);
        Assert.AreEqual(answer, content);
        Assert.IsEmpty(calls);
    }

    [TestMethod]
    public void MistralCallListIsRead()
    {
        var (content, calls) = ToolCallReader.Parse(ToolCallFormat.Mistral, Tools,
            "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lima\"}}, {\"name\": \"get_time\", \"arguments\": {}}]");
        Assert.IsNull(content);
        Assert.HasCount(2, calls);
        AssertCall(calls[0], "get_weather", """{"city":"Lima"}""");
        AssertCall(calls[1], "get_time", "{}");
    }

    [TestMethod]
    public void ArgumentsWrittenAsAJsonStringAreAccepted()
    {
        var (_, calls) = ToolCallReader.Parse(ToolCallFormat.Hermes, Tools,
            "<tool_call>{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Kyiv\\\"}\"}</tool_call>");
        AssertCall(calls.Single(), "get_weather", """{"city":"Kyiv"}""");
    }

    [TestMethod]
    public void AnUndeclaredFunctionStaysText()
    {
        const string answer = "<tool_call>\n{\"name\": \"delete_everything\", \"arguments\": {}}\n</tool_call>";
        var (content, calls) = ToolCallReader.Parse(ToolCallFormat.Hermes, Tools, answer);
        Assert.IsEmpty(calls);
        Assert.AreEqual(answer, content);
    }

    [TestMethod]
    public void ArgumentsThatDoNotParseStayText()
    {
        const string answer = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": Paris}}\n</tool_call>";
        var (content, calls) = ToolCallReader.Parse(ToolCallFormat.Hermes, Tools, answer);
        Assert.IsEmpty(calls);
        Assert.AreEqual(answer, content);

        const string notAnObject = "<tool_call>{\"name\": \"get_weather\", \"arguments\": [1, 2]}</tool_call>";
        (content, calls) = ToolCallReader.Parse(ToolCallFormat.Hermes, Tools, notAnObject);
        Assert.IsEmpty(calls);
        Assert.AreEqual(notAnObject, content);
    }

    [TestMethod]
    public void AValidCallNextToAnInvalidOneIsKept()
    {
        var (content, calls) = ToolCallReader.Parse(ToolCallFormat.Hermes, Tools,
            "<tool_call>{\"name\": \"nope\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>");
        AssertCall(calls.Single(), "get_time", "{}");
        Assert.AreEqual("<tool_call>{\"name\": \"nope\", \"arguments\": {}}</tool_call>", content);
    }

    [TestMethod]
    public void ACallCutOffByTheTokenLimitIsText()
    {
        const string answer = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par";
        var (content, calls) = ToolCallReader.Parse(ToolCallFormat.Hermes, Tools, answer);
        Assert.IsEmpty(calls);
        Assert.AreEqual(answer, content);
    }

    [TestMethod]
    public void AMissingClosingTagAtTheEndStillCompletesTheCall()
    {
        var (_, calls) = ToolCallReader.Parse(ToolCallFormat.Hermes, Tools, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n");
        AssertCall(calls.Single(), "get_time", "{}");
    }

    [TestMethod]
    public void PlainTextIsUnchanged()
    {
        const string answer = "A <tool is not a tag> and [TOOL] is not a marker.\n\n";
        foreach (var format in ToolCallFormat.All)
        {
            var (content, calls) = ToolCallReader.Parse(format, Tools, answer);
            Assert.AreEqual(answer, content, format.Name);
            Assert.IsEmpty(calls, format.Name);
        }
    }

    /// <summary>Token by token (one character at a time): the same message, and no call text leaks into the content.</summary>
    [TestMethod]
    public void StreamingOneCharacterAtATimeGivesTheSameMessage()
    {
        string[] answers =
        [
            "Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris \\\"centre\\\"\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
            "<tool_call>{\"name\": \"unknown\", \"arguments\": {}}</tool_call> then text",
            "No calls here, only <tool_ words.",
        ];
        foreach (bool streamArguments in (bool[])[false, true])
        {
            foreach (string answer in answers)
            {
                var reader = new ToolCallReader(ToolCallFormat.Hermes, Tools, streamArguments);
                var events = new List<ToolCallEvent>();
                foreach (char c in answer)
                    reader.Push([c], events);
                reader.Finish(events);
                var whole = ToolCallReader.Parse(ToolCallFormat.Hermes, Tools, answer);
                var streamed = ToolCallReader.Collect(events);
                Assert.AreEqual(whole.Content, streamed.Content, answer);
                CollectionAssert.AreEqual(whole.Calls.Select(c => (c.Name, c.Arguments)).ToList(),
                    streamed.Calls.Select(c => (c.Name, c.Arguments)).ToList(), answer);
                foreach (var text in events.OfType<ContentText>())
                    Assert.IsFalse(text.Text.Contains("tool_call>") && whole.Calls.Count > 0 && !answer.Contains("unknown"), text.Text);
            }
        }
    }

    /// <summary>With constrained output the call starts once its name is known and its arguments stream in pieces.</summary>
    [TestMethod]
    public void StreamedArgumentsArriveInPiecesAfterTheStart()
    {
        var reader = new ToolCallReader(ToolCallFormat.Hermes, Tools, streamArguments: true);
        var events = new List<ToolCallEvent>();
        string[] pieces = ["<tool_call>\n{\"name\": \"get_", "weather\", \"argu", "ments\": {\"ci", "ty\": \"Pa", "ris\"}", "}\n</tool_call>"];
        var afterPiece = new List<int>();
        foreach (string piece in pieces)
        {
            reader.Push(piece, events);
            afterPiece.Add(events.Count);
        }
        reader.Finish(events);
        Assert.AreEqual(0, afterPiece[1], "nothing before the name is complete and the arguments begin");
        var start = (CallStarted)events[0];
        Assert.AreEqual(0, start.Index);
        Assert.AreEqual("get_weather", start.Name);
        var fragments = events.Skip(1).Cast<CallArguments>().Select(a => a.Fragment).ToList();
        Assert.IsGreaterThanOrEqualTo(3, fragments.Count, string.Join("|", fragments));
        Assert.AreEqual("{\"city\": \"Paris\"}", string.Concat(fragments));
        Assert.AreEqual(JsonValueKind.Object, JsonDocument.Parse(string.Concat(fragments)).RootElement.ValueKind);
    }

    [TestMethod]
    public void MistralNameArgsCallsAreRead()
    {
        const string answer = "Checking both.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{}";
        var (content, calls) = ToolCallReader.Parse(ToolCallFormat.MistralArgs, Tools, answer);
        Assert.AreEqual("Checking both.", content);
        Assert.HasCount(2, calls);
        AssertCall(calls[0], "get_weather", """{"city": "Paris"}""");
        AssertCall(calls[1], "get_time", "{}");

        // Token by token gives the same.
        var reader = new ToolCallReader(ToolCallFormat.MistralArgs, Tools);
        var events = new List<ToolCallEvent>();
        foreach (char c in answer)
            reader.Push(c.ToString(), events);
        reader.Finish(events);
        var (streamedContent, streamedCalls) = ToolCallReader.Collect(events);
        Assert.AreEqual(content, streamedContent);
        Assert.AreEqual(string.Join("|", calls.Select(c => c.Name + c.Arguments)), string.Join("|", streamedCalls.Select(c => c.Name + c.Arguments)));
    }

    [TestMethod]
    public void MistralNameArgsWhatIsNotACallStaysText()
    {
        foreach (string answer in new[]
                 {
                     "[TOOL_CALLS]delete_all[ARGS]{}",              // undeclared
                     "[TOOL_CALLS]get_time[ARGS]{\"a\": ",          // cut off
                     "[TOOL_CALLS]get time[ARGS]{}",               // not a name
                     "[TOOL_CALLS]get_time[ARGS][1, 2]",           // arguments not an object
                 })
        {
            var (content, calls) = ToolCallReader.Parse(ToolCallFormat.MistralArgs, Tools, answer);
            Assert.IsEmpty(calls, answer);
            Assert.AreEqual(answer, content, "kept as the model wrote it");
        }
    }

    [TestMethod]
    public void MistralNameArgsArgumentsStreamAsWritten()
    {
        var reader = new ToolCallReader(ToolCallFormat.MistralArgs, Tools, streamArguments: true);
        var events = new List<ToolCallEvent>();
        foreach (string piece in new[] { "[TOOL_CALLS]get_wea", "ther[ARGS]", "{\"ci", "ty\": \"Os", "lo\"}" })
            reader.Push(piece, events);
        reader.Finish(events);
        var start = (CallStarted)events[0];
        Assert.AreEqual("get_weather", start.Name);
        var fragments = events.Skip(1).Cast<CallArguments>().Select(a => a.Fragment).ToList();
        Assert.IsGreaterThanOrEqualTo(2, fragments.Count, string.Join("|", fragments));
        Assert.AreEqual("{\"city\": \"Oslo\"}", string.Concat(fragments));
    }
}
