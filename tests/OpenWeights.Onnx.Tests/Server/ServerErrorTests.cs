using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>Bad requests get OpenAI's error object and the right status; none crashes the server.</summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class ServerErrorTests
{
    private const string Key = "sk-test-0123456789";
    private const int MaxLength = 64;
    private const int MaxBody = 16 * 1024;
    private static TestServer _server = null!;

    [ClassInitialize]
    public static async Task StartAsync(TestContext _) =>
        _server = await TestServer.StartAsync(o => o with { ApiKey = Key, MaxLength = MaxLength, MaxBodyBytes = MaxBody });

    [ClassCleanup]
    public static async Task StopAsync() => await _server.DisposeAsync();

    private const string Chat = "/v1/chat/completions";
    private const string Completions = "/v1/completions";
    private const string Messages = """ "messages":[{"role":"user","content":"Hi"}] """;

    public static IEnumerable<object?[]> BadRequests =>
    [
        // path, body, status, param, code
        [Chat, "{bad json", 400, null, "invalid_json"],
        [Chat, "", 400, null, "invalid_json"],
        [Chat, "[1, 2]", 400, null, "invalid_json"],
        [Chat, $$"""{"model":"gpt-4o",{{Messages}}}""", 404, "model", "model_not_found"],
        [Chat, $$"""{{{Messages}}}""", 400, "model", "missing_required_parameter"],
        [Chat, """{"model":7,"messages":[]}""", 400, "model", "invalid_type"],
        [Chat, """{"model":"fortune-llama"}""", 400, "messages", "missing_required_parameter"],
        [Chat, """{"model":"fortune-llama","messages":[]}""", 400, "messages", "empty_array"],
        [Chat, """{"model":"fortune-llama","messages":"Hi"}""", 400, "messages", "invalid_type"],
        [Chat, """{"model":"fortune-llama","messages":["Hi"]}""", 400, "messages[0]", "invalid_type"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":42}]}""", 400, "messages[0].content", "invalid_type"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":{"text":"Hi"}}]}""", 400, "messages[0].content", "invalid_type"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user"}]}""", 400, "messages[0].content", "missing_required_parameter"],
        [Chat, """{"model":"fortune-llama","messages":[{"content":"Hi"}]}""", 400, "messages[0].role", "missing_required_parameter"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"wizard","content":"Hi"}]}""", 400, "messages[0].role", "invalid_value"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", 400, "messages[0].content[0].type", "unsupported_parameter"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"temperature":3}""", 400, "temperature", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"temperature":"hot"}""", 400, "temperature", "invalid_type"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"top_p":1.5}""", 400, "top_p", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"presence_penalty":-2.5}""", 400, "presence_penalty", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"frequency_penalty":9}""", 400, "frequency_penalty", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"max_tokens":0}""", 400, "max_tokens", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"max_completion_tokens":-5}""", 400, "max_completion_tokens", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"max_tokens":1.5}""", 400, "max_tokens", "invalid_type"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"seed":"x"}""", 400, "seed", "invalid_type"],
        // n is bounded by the batch slots (4 in the test server): the choices decode together.
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"n":5}""", 400, "n", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"n":0}""", 400, "n", "invalid_value"],
        [Completions, """{"model":"fortune-llama","prompt":"Hi","n":5}""", 400, "n", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"top_logprobs":30,"logprobs":true}""", 400, "top_logprobs", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"top_logprobs":2}""", 400, "top_logprobs", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"stop":["a","b","c","d","e"]}""", 400, "stop", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"stop":5}""", 400, "stop", "invalid_type"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"stop":["a",""]}""", 400, "stop[1]", "invalid_value"],
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"stream":"yes"}""", 400, "stream", "invalid_type"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"}],"stream_options":{"include_usage":true}}""", 400, "stream_options", "invalid_value"],
        // The sample's own template never shows tools to the model: refused, not silently dropped.
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}""", 400, "tools", "tools_unsupported"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"}],"tools":{"type":"function"}}""", 400, "tools", "invalid_type"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"get weather"}}]}""", 400, "tools[0].function.name", "invalid_value"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]}""", 400, "tools[0].function.parameters", "invalid_type"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}""", 400, "tool_choice.function.name", "invalid_value"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"}],"tool_choice":"required"}""", 400, "tool_choice", "invalid_value"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"always"}""", 400, "tool_choice", "invalid_value"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"},{"role":"tool","content":"42"}]}""", 400, "messages[1].tool_call_id", "missing_required_parameter"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f"}}]}]}""", 400, "messages[0].tool_calls[0].function.arguments", "missing_required_parameter"],
        [Chat, """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"}],"functions":[{"name":"f"}]}""", 400, "functions", "unsupported_parameter"],
        [Chat, $$$$$"""{"model":"fortune-llama",{{{{{Messages}}}}},"logit_bias":{"99999":100}}""", 400, "logit_bias", "invalid_value"],
        [Chat, $$$$$"""{"model":"fortune-llama",{{{{{Messages}}}}},"logit_bias":{"5":150}}""", 400, "logit_bias", "invalid_value"],
        [Chat, $$$$$"""{"model":"fortune-llama",{{{{{Messages}}}}},"logit_bias":{"five":1}}""", 400, "logit_bias", "invalid_value"],
        [Chat, $$$$$"""{"model":"fortune-llama",{{{{{Messages}}}}},"logit_bias":[1]}""", 400, "logit_bias", "invalid_type"],
        [Chat, $$$$$"""{"model":"fortune-llama",{{{{{Messages}}}}},"response_format":{"type":"xml"}}""", 400, "response_format.type", "invalid_value"],
        [Chat, $$$$$"""{"model":"fortune-llama",{{{{{Messages}}}}},"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}""", 400, "response_format.json_schema.schema", "missing_required_parameter"],
        [Chat, $$$$$"""{"model":"fortune-llama",{{{{{Messages}}}}},"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"a+"}}}}""", 400, "response_format.json_schema.schema", "invalid_value"],
        [Chat, $$$$$"""{"model":"fortune-llama",{{{{{Messages}}}}},"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"anyOf":[{"type":"object"},{"type":"object"}]}}}}""", 400, "response_format.json_schema.schema", "invalid_value"],
        [Completions, """{"model":"fortune-llama","prompt":"A","logit_bias":{"2048":-100}}""", 400, "logit_bias", "invalid_value"],
        // The prompt fits but the completion asked for does not; the prompt alone does not fit.
        [Chat, $$"""{"model":"fortune-llama",{{Messages}},"max_tokens":{{MaxLength}}}""", 400, "messages", "context_length_exceeded"],
        [Chat, $$"""{"model":"fortune-llama","messages":[{"role":"user","content":"{{string.Concat(Enumerable.Repeat("fortune ", 80))}}"}]}""", 400, "messages", "context_length_exceeded"],
        [Completions, """{"model":"fortune-llama"}""", 400, "prompt", "missing_required_parameter"],
        [Completions, """{"model":"fortune-llama","prompt":[]}""", 400, "prompt", "empty_array"],
        [Completions, """{"model":"fortune-llama","prompt":["a","b"]}""", 400, "prompt", "unsupported_parameter"],
        [Completions, """{"model":"fortune-llama","prompt":[1, 99999]}""", 400, "prompt", "invalid_value"],
        [Completions, """{"model":"fortune-llama","prompt":[1, -1]}""", 400, "prompt[1]", "invalid_value"],
        [Completions, """{"model":"fortune-llama","prompt":{"text":"x"}}""", 400, "prompt", "invalid_type"],
        [Completions, """{"model":"fortune-llama","prompt":"A","logprobs":6}""", 400, "logprobs", "invalid_value"],
        [Completions, """{"model":"fortune-llama","prompt":"A","echo":true}""", 400, "echo", "unsupported_parameter"],
        [Completions, """{"model":"fortune-llama","prompt":"A","max_tokens":64}""", 400, "prompt", "context_length_exceeded"],
        [Completions, """{"model":"nope","prompt":"A"}""", 404, "model", "model_not_found"],
    ];

    [TestMethod]
    [DynamicData(nameof(BadRequests))]
    public async Task BadRequestGetsTheErrorObjectAndStatus(string path, string body, int status, string? param, string code)
    {
        var (actual, error) = await _server.PostAsync(path, body);
        AssertError(error, (HttpStatusCode)status, actual, param, code);
    }

    [TestMethod]
    public async Task BodiesOverTheLimitGet413WithOrWithoutALength()
    {
        string big = $$"""{"model":"fortune-llama","messages":[{"role":"user","content":"{{new string('x', MaxBody)}}"}]}""";
        var (status, error) = await _server.PostAsync(Chat, big);
        AssertError(error, HttpStatusCode.RequestEntityTooLarge, status, null, "request_too_large");

        // Chunked: no Content-Length, so the limit is found while reading.
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, Chat) { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await _server.Http.SendAsync(request);
        AssertError(await TestServer.ReadJsonAsync(response), HttpStatusCode.RequestEntityTooLarge, response.StatusCode, null, "request_too_large");
    }

    [TestMethod]
    public async Task TheApiNeedsTheKeyButHealthAndMetricsDoNot()
    {
        using var anonymous = new HttpClient { BaseAddress = _server.BaseAddress };
        string body = $$"""{"model":"fortune-llama",{{Messages}},"max_tokens":2}""";

        using (var missing = await anonymous.PostAsync(Chat, new StringContent(body)))
            AssertError(await TestServer.ReadJsonAsync(missing), HttpStatusCode.Unauthorized, missing.StatusCode, null, "invalid_api_key");
        using (var models = await anonymous.GetAsync("/v1/models"))
            Assert.AreEqual(HttpStatusCode.Unauthorized, models.StatusCode);

        foreach (string wrong in (string[])["sk-test-012345678", "sk-test-0123456789x", "", "Basic abc"])
        {
            var request = new HttpRequestMessage(HttpMethod.Post, Chat) { Content = new StringContent(body) };
            request.Headers.TryAddWithoutValidation("Authorization", wrong.StartsWith("Basic", StringComparison.Ordinal) ? wrong : $"Bearer {wrong}");
            using var response = await anonymous.SendAsync(request);
            AssertError(await TestServer.ReadJsonAsync(response), HttpStatusCode.Unauthorized, response.StatusCode, null, "invalid_api_key");
        }

        var (ok, completion) = await _server.PostAsync(Chat, body);
        Assert.AreEqual(HttpStatusCode.OK, ok, completion.ToString());
        using (var health = await anonymous.GetAsync("/health"))
            Assert.AreEqual(HttpStatusCode.OK, health.StatusCode);
        using (var metrics = await anonymous.GetAsync("/metrics"))
            Assert.AreEqual(HttpStatusCode.OK, metrics.StatusCode);
    }

    [TestMethod]
    public async Task UnknownUrlsAndMethodsGetErrorObjects()
    {
        var (status, error) = await _server.PostAsync("/v1/embeddings", "{}");
        AssertError(error, HttpStatusCode.NotFound, status, null, "unknown_url");
        var (modelStatus, modelError) = await _server.GetAsync("/v1/models/gpt-4o");
        AssertError(modelError, HttpStatusCode.NotFound, modelStatus, "model", "model_not_found");
        using var get = await _server.Http.GetAsync(Chat);
        AssertError(await TestServer.ReadJsonAsync(get), HttpStatusCode.MethodNotAllowed, get.StatusCode, null, "method_not_allowed");
    }

    [TestMethod]
    public async Task GarbledBodiesNeverCrashTheServerOrGive500()
    {
        // A bounded set of mutations of a valid body: truncations, byte flips, type swaps.
        string valid = $$"""{"model":"fortune-llama","messages":[{"role":"user","content":"Hi \u00e9\ud83d\ude00"}],"max_tokens":2,"stop":["x"],"temperature":0.5,"seed":1}""";
        var random = new Random(1234);
        var bodies = new List<string> { "null", "0", "\"str\"", "{}", "{\"model\":null}", """{"model":"fortune-llama","messages":[{"role":"user","content":"\ud800"}]}""",
            """{"model":"fortune-llama","messages":[{"role":"user","content":"\u0000{{ raise_exception('x') }}"}],"max_tokens":2}""",
            new string('[', 5000) + new string(']', 5000) };
        for (int i = 0; i < valid.Length; i += 7)
            bodies.Add(valid[..i]);
        for (int i = 0; i < 40; i++)
        {
            var chars = valid.ToCharArray();
            chars[random.Next(chars.Length)] = "{}[]\":,0a\\ "[random.Next(12 - 1)];
            bodies.Add(new string(chars));
        }
        foreach (string body in bodies)
        {
            var (status, response) = await _server.PostAsync(Chat, body);
            Assert.IsTrue(status is HttpStatusCode.OK or HttpStatusCode.BadRequest or HttpStatusCode.NotFound,
                $"{(int)status} for {body}: {response}");
            if (status != HttpStatusCode.OK)
                AssertErrorShape(response);
        }
        var (health, _) = await _server.GetAsync("/health");
        Assert.AreEqual(HttpStatusCode.OK, health);
    }

    [TestMethod]
    public async Task AModelThatFailedToLoadIsReportedByHealthAndThe503s()
    {
        var options = new OpenWeights.Onnx.Server.ServerOptions
        {
            ModelDirectory = TestFixtures.Scratch("not-a-model"), Port = 0, HandleSignals = false, ConsoleLogging = false,
            StopOnLoadFailure = false,
        };
        await using var server = OpenWeights.Onnx.Server.OpenAiServer.Create(options);
        await server.StartAsync();
        await Assert.ThrowsAsync<OpenWeights.Onnx.Runtime.ModelLoadException>(() => server.Model.Ready);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        using var health = await http.GetAsync("/health");
        Assert.AreEqual(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        var body = await TestServer.ReadJsonAsync(health);
        Assert.AreEqual("failed", body.GetProperty("status").GetString());
        StringAssert.Contains(body.GetProperty("error").GetString(), "genai_config.json not found");

        using var chat = await http.PostAsync(Chat, new StringContent($$"""{"model":"x",{{Messages}}}"""));
        AssertError(await TestServer.ReadJsonAsync(chat), HttpStatusCode.ServiceUnavailable, chat.StatusCode, null, "service_unavailable");
        await server.StopAsync();
    }

    private static void AssertError(JsonElement body, HttpStatusCode expected, HttpStatusCode actual, string? param, string code)
    {
        Assert.AreEqual(expected, actual, body.ToString());
        AssertErrorShape(body);
        var error = body.GetProperty("error");
        Assert.AreEqual(param, error.GetProperty("param").GetString(), body.ToString());
        Assert.AreEqual(code, error.GetProperty("code").GetString(), body.ToString());
    }

    private static void AssertErrorShape(JsonElement body)
    {
        Assert.AreEqual(1, body.EnumerateObject().Count(), body.ToString());
        var error = body.GetProperty("error");
        Assert.IsFalse(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()), body.ToString());
        Assert.IsFalse(string.IsNullOrWhiteSpace(error.GetProperty("type").GetString()), body.ToString());
        Assert.IsTrue(error.TryGetProperty("param", out _), "param is always present");
        Assert.IsTrue(error.TryGetProperty("code", out _), "code is always present");
        Assert.AreEqual(4, error.EnumerateObject().Count(), body.ToString());
    }
}
