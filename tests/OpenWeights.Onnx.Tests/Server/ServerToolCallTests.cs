using System.Net;
using System.Text.Json;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// Tools over HTTP on the sample model, served with a tools-aware ChatML template (the test fixture
/// Server/Tools/chatml-tools.jinja; the sample's own template has no tools): the conversation with calls and their
/// results renders through the template as Jinja2 renders it, tool_choice "none" does not show the tools, and a
/// text answer passes through whole and streamed.
/// </summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class ServerToolCallTests
{
    /// <summary>What Jinja2 3.1.6 (transformers' settings) renders from the fixture template for <see cref="RoundTripMessages"/> and <see cref="WeatherTool"/>.</summary>
    private const string ExpectedRoundTripPrompt = "<|im_start|>system\nYou answer briefly.\n\n# Tools\n\nYou may call these functions:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather in a city.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"c\", \"f\"]}}, \"required\": [\"city\"]}}}\n</tools>\n\nCall one as <tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temperature\": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n";

    internal const string WeatherTool =
        """{"type":"function","function":{"name":"get_weather","description":"Current weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}}""";

    private const string RoundTripMessages =
        """[{"role":"system","content":"You answer briefly."},{"role":"user","content":"Weather in Paris?"},""" +
        """{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"c\"}"}}]},""" +
        """{"role":"tool","tool_call_id":"call_abc","content":"{\"temperature\": 21}"}]""";

    /// <summary>A function whose arguments are fully determined by its schema's choices (so a forced call is short).</summary>
    internal const string ForecastTool =
        """{"type":"function","function":{"name":"get_forecast","parameters":{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Oslo"]},"days":{"type":"integer","enum":[1,3]},"metric":{"type":"boolean"}},"required":["city","days","metric"],"additionalProperties":false}}}""";

    internal const string TimeTool = """{"type":"function","function":{"name":"get_time"}}""";

    private static TestServer _server = null!;

    public static string ToolsTemplate => Path.Combine(TestFixtures.RepositoryRoot, "tests", "OpenWeights.Onnx.Tests", "Server", "Tools", "chatml-tools.jinja");

    [ClassInitialize]
    public static async Task StartAsync(TestContext _) =>
        _server = await TestServer.StartAsync(o => o with { ChatTemplateFile = ToolsTemplate });

    [ClassCleanup]
    public static async Task StopAsync() => await _server.DisposeAsync();

    private static string Body(string messages, string extra, int maxTokens = 12) =>
        $$"""{"model":"fortune-llama","messages":{{messages}},"max_tokens":{{maxTokens}},"temperature":0{{extra}}}""";

    [TestMethod]
    public async Task ACallAndItsResultRenderThroughTheTemplateAsJinja2RendersThem()
    {
        var (status, body) = await _server.PostAsync("/v1/chat/completions", Body(RoundTripMessages, $$""","tools":[{{WeatherTool}}]"""));
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        var tokenizer = TextTokenizer.FromFolder(FortuneReference.ConvertedFp32);
        Assert.AreEqual(tokenizer.Encode(ExpectedRoundTripPrompt, addSpecialTokens: false).Length,
            body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var choice = body.GetProperty("choices")[0];
        // The tiny sample does not call tools by itself: a text answer, no tool_calls.
        Assert.IsFalse(choice.GetProperty("message").TryGetProperty("tool_calls", out _), body.ToString());
        Assert.AreEqual(JsonValueKind.String, choice.GetProperty("message").GetProperty("content").ValueKind);
        CollectionAssert.Contains(new[] { "stop", "length" }, choice.GetProperty("finish_reason").GetString());
    }

    [TestMethod]
    public async Task ToolChoiceNoneDoesNotShowTheTools()
    {
        const string messages = """[{"role":"user","content":"Tell me a fortune."}]""";
        int Prompt(JsonElement b) => b.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        var (_, plain) = await _server.PostAsync("/v1/chat/completions", Body(messages, ""));
        var (_, none) = await _server.PostAsync("/v1/chat/completions", Body(messages, $$""","tools":[{{WeatherTool}}],"tool_choice":"none" """));
        var (_, auto) = await _server.PostAsync("/v1/chat/completions", Body(messages, $$""","tools":[{{WeatherTool}}]"""));
        Assert.AreEqual(Prompt(plain), Prompt(none), none.ToString());
        Assert.IsGreaterThan(Prompt(plain) + 50, Prompt(auto), auto.ToString());
        Assert.AreEqual(plain.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(),
            none.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [TestMethod]
    public async Task AStreamedTextAnswerWithToolsOfferedIsTheWholeAnswersText()
    {
        string body = Body("""[{"role":"user","content":"Tell me a fortune."}]""", $$""","tools":[{{WeatherTool}}]""");
        var (_, whole) = await _server.PostAsync("/v1/chat/completions", body);
        using var response = await _server.PostStreamAsync("/v1/chat/completions", body.TrimEnd('}') + ""","stream":true}""");
        var events = await ServerSentEvents.ReadAllAsync(response);
        Assert.AreEqual(whole.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), ServerSentEvents.ChatText(events));
        Assert.IsFalse(events.Any(e => e.Contains("tool_calls")), string.Join("\n", events));
    }

    /// <summary>The arguments of a forced call of get_forecast: a JSON object with exactly its schema's members.</summary>
    internal static void AssertForecastArguments(string arguments)
    {
        using var doc = JsonDocument.Parse(arguments);
        var root = doc.RootElement;
        Assert.AreEqual(JsonValueKind.Object, root.ValueKind, arguments);
        CollectionAssert.AreEquivalent(new[] { "city", "days", "metric" }, root.EnumerateObject().Select(p => p.Name).ToArray(), arguments);
        CollectionAssert.Contains(new[] { "Paris", "Oslo" }, root.GetProperty("city").GetString(), arguments);
        CollectionAssert.Contains(new long[] { 1, 3 }, root.GetProperty("days").GetInt64(), arguments);
        Assert.IsTrue(root.GetProperty("metric").ValueKind is JsonValueKind.True or JsonValueKind.False, arguments);
    }

    private const string Question = """[{"role":"user","content":"What is the forecast in Paris?"}]""";

    [TestMethod]
    public async Task RequiredGivesOneCallOfADeclaredFunctionWithArgumentsThatFollowItsSchema()
    {
        var (status, body) = await _server.PostAsync("/v1/chat/completions",
            Body(Question, $$""","tools":[{{ForecastTool}},{{TimeTool}}],"tool_choice":"required" """, 150));
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        var choice = body.GetProperty("choices")[0];
        Assert.AreEqual("tool_calls", choice.GetProperty("finish_reason").GetString(), body.ToString());
        var message = choice.GetProperty("message");
        Assert.AreEqual(JsonValueKind.Null, message.GetProperty("content").ValueKind, body.ToString());
        var call = message.GetProperty("tool_calls").EnumerateArray().Single();
        StringAssert.StartsWith(call.GetProperty("id").GetString(), "call_");
        Assert.AreEqual("function", call.GetProperty("type").GetString());
        string name = call.GetProperty("function").GetProperty("name").GetString()!;
        string arguments = call.GetProperty("function").GetProperty("arguments").GetString()!;
        if (name == "get_forecast")
            AssertForecastArguments(arguments);
        else
            Assert.AreEqual("get_time {}", $"{name} {arguments}");
    }

    [TestMethod]
    public async Task ANamedFunctionIsTheOneCalled()
    {
        var (_, body) = await _server.PostAsync("/v1/chat/completions",
            Body(Question, $$""","tools":[{{ForecastTool}},{{TimeTool}}],"tool_choice":{"type":"function","function":{"name":"get_time"} }""", 60));
        var call = body.GetProperty("choices")[0].GetProperty("message").GetProperty("tool_calls").EnumerateArray().Single();
        Assert.AreEqual("get_time", call.GetProperty("function").GetProperty("name").GetString());
        Assert.AreEqual("{}", call.GetProperty("function").GetProperty("arguments").GetString());
        Assert.AreEqual("tool_calls", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    /// <summary>Random sampling cannot break a forced call: every one of 12 parses and follows the schema.</summary>
    [TestMethod]
    public async Task SampledForcedCallsAlwaysFollowTheSchema()
    {
        for (int seed = 1; seed <= 12; seed++)
        {
            var (_, body) = await _server.PostAsync("/v1/chat/completions", $$"""
                {"model":"fortune-llama","messages":{{Question}},"max_tokens":150,"temperature":1.3,"seed":{{seed}},
                 "tools":[{{ForecastTool}}],"tool_choice":{"type":"function","function":{"name":"get_forecast"} } }
                """);
            var choice = body.GetProperty("choices")[0];
            Assert.AreEqual("tool_calls", choice.GetProperty("finish_reason").GetString(), body.ToString());
            AssertForecastArguments(choice.GetProperty("message").GetProperty("tool_calls")[0].GetProperty("function").GetProperty("arguments").GetString()!);
        }
    }

    /// <summary>
    /// Streamed as OpenAI streams calls: a first delta with index, id, type, name and "" arguments, then argument
    /// fragments that join to the whole answer's arguments, no call text as content, finish_reason tool_calls.
    /// </summary>
    [TestMethod]
    public async Task AStreamedCallArrivesAsOpenAisToolCallDeltas()
    {
        string extra = $$""","tools":[{{ForecastTool}}],"tool_choice":{"type":"function","function":{"name":"get_forecast"} }""";
        string body = Body(Question, extra, 150);
        var (_, whole) = await _server.PostAsync("/v1/chat/completions", body);
        string expectedArguments = whole.GetProperty("choices")[0].GetProperty("message").GetProperty("tool_calls")[0]
            .GetProperty("function").GetProperty("arguments").GetString()!;

        using var response = await _server.PostStreamAsync("/v1/chat/completions", Body(Question, extra + ""","stream":true""", 150));
        var events = await ServerSentEvents.ReadAllAsync(response);
        Assert.AreEqual(ServerSentEvents.Done, events[^1]);
        var deltas = events.SkipLast(1).Select(ServerSentEvents.Json).Select(e => e.GetProperty("choices")[0]).ToList();
        Assert.AreEqual("assistant", deltas[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.AreEqual("", ServerSentEvents.ChatText(events), "no text: the answer is the call");

        var callDeltas = deltas.Where(d => d.GetProperty("delta").TryGetProperty("tool_calls", out _))
            .Select(d => d.GetProperty("delta").GetProperty("tool_calls").EnumerateArray().Single()).ToList();
        var first = callDeltas[0];
        Assert.AreEqual(0, first.GetProperty("index").GetInt32());
        StringAssert.StartsWith(first.GetProperty("id").GetString(), "call_");
        Assert.AreEqual("function", first.GetProperty("type").GetString());
        Assert.AreEqual("get_forecast", first.GetProperty("function").GetProperty("name").GetString());
        Assert.AreEqual("", first.GetProperty("function").GetProperty("arguments").GetString());
        var fragments = callDeltas.Skip(1).ToList();
        Assert.IsGreaterThan(1, fragments.Count, "the arguments stream in pieces");
        foreach (var f in fragments)
        {
            Assert.AreEqual(0, f.GetProperty("index").GetInt32());
            Assert.IsFalse(f.TryGetProperty("id", out _));
            Assert.IsFalse(f.GetProperty("function").TryGetProperty("name", out _));
        }
        Assert.AreEqual(expectedArguments, string.Concat(fragments.Select(f => f.GetProperty("function").GetProperty("arguments").GetString())));
        Assert.AreEqual("tool_calls", deltas[^1].GetProperty("finish_reason").GetString());
    }

    [TestMethod]
    public async Task AStrictFunctionWhoseSchemaCannotBeEnforcedIsRefusedNamingIt()
    {
        const string lookup = """{"type":"function","function":{"name":"lookup","strict":true,"parameters":{"type":"object","properties":{"code":{"type":"string","pattern":"^[a-z]+$"}}}}}""";
        var (status, body) = await _server.PostAsync("/v1/chat/completions", Body(Question, $$""","tools":[{{lookup}}],"tool_choice":"required" """, 50));
        Assert.AreEqual(HttpStatusCode.BadRequest, status, body.ToString());
        var error = body.GetProperty("error");
        Assert.AreEqual("tools", error.GetProperty("param").GetString());
        StringAssert.Contains(error.GetProperty("message").GetString(), "lookup");
        StringAssert.Contains(error.GetProperty("message").GetString(), "pattern");
    }
}
