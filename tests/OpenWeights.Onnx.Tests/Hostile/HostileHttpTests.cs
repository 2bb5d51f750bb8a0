using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hostile;

/// <summary>
/// Hostile HTTP: numbers past every range, malformed JSON and text, oversized lines and headers. Each answer is a
/// 4xx with OpenAI's error object, and afterwards the server still answers the same greedy text as before.
/// </summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class HostileHttpTests
{
    private static TestServer _server = null!;
    private static string _greedy = "";
    private const string Greedy = """{"model":"fortune-llama","prompt":"A fool and his money","max_tokens":12,"temperature":0}""";

    [ClassInitialize]
    public static async Task StartAsync(TestContext _)
    {
        _server = await TestServer.StartAsync(o => o with { MaxLength = 256, MaxBodyBytes = 64 * 1024 });
        _greedy = await GreedyAsync();
    }

    [ClassCleanup]
    public static async Task StopAsync() => await _server.DisposeAsync();

    private static async Task<string> GreedyAsync()
    {
        var (status, body) = await _server.PostAsync("/v1/completions", Greedy);
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        return body.GetProperty("choices")[0].GetProperty("text").GetString()!;
    }

    private static void IsOpenAiError(JsonElement body, int status, string? code)
    {
        var error = body.GetProperty("error");
        Assert.AreEqual(JsonValueKind.String, error.GetProperty("message").ValueKind, body.ToString());
        Assert.IsTrue(error.GetProperty("message").GetString()!.Length > 0);
        Assert.AreEqual(JsonValueKind.String, error.GetProperty("type").ValueKind);
        if (code is not null)
            Assert.AreEqual(code, error.GetProperty("code").GetString(), body.ToString());
    }

    private const string Msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";
    private const string M = "\"model\":\"fortune-llama\"";

    [TestMethod]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"max_tokens\":2147483647}", 400, "context_length_exceeded")]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"max_tokens\":2147483648}", 400, "invalid_value")]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"max_tokens\":1e30}", 400, null)]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"max_tokens\":-2147483648}", 400, "invalid_value")]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"top_k\":2147483648}", 400, null)]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"seed\":1e400}", 400, null)]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"seed\":18446744073709551616}", 400, null)]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"temperature\":1e309}", 400, null)]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"temperature\":NaN}", 400, "invalid_json")]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"logprobs\":6}", 400, "invalid_value")]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":[-1]}", 400, null)]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":[999999]}", 400, "invalid_value")]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":[2147483648]}", 400, null)]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":[[1,2],[3]]}", 400, null)]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":[1.5]}", 400, null)]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":[]}", 400, null)]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "invalid_value")]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"stop\":[\"\"]}", 400, "invalid_value")]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"stop\":[1]}", 400, "invalid_type")]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"stream\":\"yes\"}", 400, "invalid_type")]
    [DataRow("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"stream_options\":{\"include_usage\":true}}", 400, "invalid_value")]
    [DataRow("/v1/chat/completions", "{" + M + "," + Msgs + ",\"max_completion_tokens\":4294967296}", 400, null)]
    [DataRow("/v1/chat/completions", "{" + M + "," + Msgs + ",\"top_logprobs\":-1,\"logprobs\":true}", 400, "invalid_value")]
    [DataRow("/v1/chat/completions", "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}", 400, null)]
    [DataRow("/v1/chat/completions", "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":null}]}", 400, null)]
    [DataRow("/v1/chat/completions", "{" + M + ",\"messages\":[{\"role\":null,\"content\":\"Hi\"}]}", 400, null)]
    [DataRow("/v1/chat/completions", "{" + M + ",\"messages\":{\"role\":\"user\"}}", 400, "invalid_type")]
    [DataRow("/v1/chat/completions", "{\"model\":\"" + "fortune-llama\\u0000" + "\"," + Msgs + "}", 404, "model_not_found")]
    [DataRow("/v1/chat/completions", "{" + M + "," + Msgs + ",\"repetition_penalty\":0}", 400, "invalid_value")]
    [DataRow("/v1/chat/completions", "{" + M + "," + Msgs + ",\"min_p\":1}", 400, "invalid_value")]
    [DataRow("/v1/chat/completions", "\"just a string\"", 400, null)]
    [DataRow("/v1/chat/completions", "{" + M + "," + Msgs + "} {}", 400, "invalid_json")]
    public async Task HostileBodyIsA4xxWithAnErrorObject(string path, string body, int status, string? code)
    {
        var (actual, json) = await _server.PostAsync(path, body);
        Assert.AreEqual(status, (int)actual, json.ToString());
        IsOpenAiError(json, status, code);
        Assert.AreEqual(_greedy, await GreedyAsync(), "the server must answer exactly as before");
    }

    [TestMethod]
    [DataRow(65)]
    [DataRow(1000)]
    [DataRow(10000)]
    public async Task DeeplyNestedJsonIsRefused(int depth)
    {
        string body = "{" + M + ",\"prompt\":\"x\",\"user\":" + new string('[', depth) + new string(']', depth) + "}";
        var (actual, json) = await _server.PostAsync("/v1/completions", body);
        Assert.AreEqual(400, (int)actual, json.ToString());
        IsOpenAiError(json, 400, null);
        Assert.AreEqual(_greedy, await GreedyAsync());
    }

    /// <summary>Raw bytes on a socket: what HttpClient would refuse to send.</summary>
    private static async Task<(int Status, string Body)> RawAsync(string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(_server.BaseAddress.Host, _server.BaseAddress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string response = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        int status = int.Parse(response.Split(' ', 3)[1]);
        int split = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        string body = split < 0 ? "" : response[(split + 4)..];
        // Bodies may come chunked: keep only the JSON object.
        int start = body.IndexOf('{'), end = body.LastIndexOf('}');
        return (status, start >= 0 && end > start ? body[start..(end + 1)] : body);
    }

    [TestMethod]
    [DataRow("GET /" + "{long}" + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414, "url_too_long")]
    [DataRow("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n", 431, "headers_too_large")]
    [DataRow("GET /health HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n", 431, "headers_too_large")]
    [DataRow("GET /v2/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, "unknown_url")]
    [DataRow("DELETE /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405, "method_not_allowed")]
    [DataRow("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n{}", 413, "request_too_large")]
    [DataRow("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n", 400, null)]
    // Kestrel's own verdicts, given before any middleware runs: a malformed request line or header, headers past its
    // 1 MB limit, a request line past its 64 KB limit, an HTTP version it does not speak.
    [DataRow("GARBAGE\r\n\r\n", 400, "malformed_http")]
    [DataRow("GET /health HTTP/1.1\r\nHost: x\r\nNo colon here\r\nConnection: close\r\n\r\n", 400, "malformed_http")]
    [DataRow("GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: {huge}\r\nConnection: close\r\n\r\n", 431, "headers_too_large")]
    [DataRow("GET /{line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414, "url_too_long")]
    [DataRow("GET /health HTTP/7.0\r\nHost: x\r\nConnection: close\r\n\r\n", 505, "http_version_not_supported")]
    public async Task MalformedHttpGetsAnErrorObject(string template, int status, string? code)
    {
        string request = template
            .Replace("{long}", new string('a', 20_000))
            .Replace("{big}", new string('b', 40_000))
            .Replace("{huge}", new string('h', 1_100_000))
            .Replace("{line}", new string('l', 70_000))
            .Replace("{many}", string.Concat(Enumerable.Range(0, 150).Select(i => $"X-H{i}: v\r\n")));
        var (actual, body) = await RawAsync(request);
        Assert.AreEqual(status, actual, body);
        IsOpenAiError(JsonDocument.Parse(body).RootElement, status, code);
        Assert.AreEqual(_greedy, await GreedyAsync());
    }
}
