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
    private const string ExpectedRoundTripPrompt = "<|im_start|>system\nYou answer briefly.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather in a city.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"c\", \"f\"]}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temperature\": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n";

    internal const string WeatherTool =
        """{"type":"function","function":{"name":"get_weather","description":"Current weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}}""";

    private const string RoundTripMessages =
        """[{"role":"system","content":"You answer briefly."},{"role":"user","content":"Weather in Paris?"},""" +
        """{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"c\"}"}}]},""" +
        """{"role":"tool","tool_call_id":"call_abc","content":"{\"temperature\": 21}"}]""";

    private static TestServer _server = null!;

    public static string ToolsTemplate => Path.Combine(TestFixtures.RepositoryRoot, "tests", "OpenWeights.Onnx.Tests", "Server", "Tools", "chatml-tools.jinja");

    [ClassInitialize]
    public static async Task StartAsync(TestContext _) =>
        _server = await TestServer.StartAsync(o => o with { ChatTemplateFile = ToolsTemplate });

    [ClassCleanup]
    public static async Task StopAsync() => await _server.DisposeAsync();

    private static string Body(string messages, string extra) =>
        $$"""{"model":"fortune-llama","messages":{{messages}},"max_tokens":12,"temperature":0{{extra}}}""";

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
}
