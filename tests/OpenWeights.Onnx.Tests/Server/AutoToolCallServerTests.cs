using System.Net;
using System.Text.Json;
using OpenWeights.Onnx.Tests.Constraints;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// Over HTTP, on the sample served with the tools-aware ChatML template: in <c>auto</c> mode a call the model opens is
/// constrained from its opening on, so every returned call parses and follows its function's schema, whole and
/// streamed; and a stop string never cuts a response_format document.
/// <para>
/// The server reads Llama 3's format here (<c>--tool-call-format llama3</c>): an answer that opens with <c>{</c> is a
/// call. The fortune model never starts a call by itself, so the requests raise the logit of <c>{</c> by 100 (OpenAI's
/// <c>logit_bias</c>): the answer opens with it, and from there on the mask, not the model, keeps the call valid.
/// </para>
/// </summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class AutoToolCallServerTests
{
    private static TestServer _server = null!;
    private static int _brace;

    private const string ForecastSchema =
        """{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Oslo"]},"days":{"type":"integer","enum":[1,3]},"metric":{"type":"boolean"}},"required":["city","days","metric"],"additionalProperties":false}""";
    private const string Question = """[{"role":"user","content":"What is the forecast in Paris?"}]""";

    [ClassInitialize]
    public static async Task StartAsync(TestContext _)
    {
        _server = await TestServer.StartAsync(o => o with { ChatTemplateFile = ServerToolCallTests.ToolsTemplate, ToolCallFormat = "llama3" });
        _brace = TextTokenizer.FromFolder(FortuneReference.ConvertedFp32).TokenToId("{")!.Value;
    }

    [ClassCleanup]
    public static async Task StopAsync() => await _server.DisposeAsync();

    private static string Body(int seed, string extra = "") => $$"""
        {"model":"fortune-llama","messages":{{Question}},"max_tokens":80,"temperature":1.2,"seed":{{seed}},
         "logit_bias":{"{{_brace}}":100},"tools":[{{ServerToolCallTests.ForecastTool}},{{ServerToolCallTests.TimeTool}}]{{extra}} }
        """;

    private static string? Problem(string name, string arguments) => name switch
    {
        "get_forecast" => SchemaValidation.Problem(ForecastSchema, arguments),
        "get_time" => arguments == "{}" ? null : $"get_time takes no arguments: {arguments}",
        _ => $"undeclared function '{name}'",
    };

    [TestMethod]
    public async Task EveryCallOpenedInAutoModeParsesAndFollowsItsSchema()
    {
        var failures = new List<string>();
        for (int seed = 1; seed <= 10; seed++)
        {
            var (status, body) = await _server.PostAsync("/v1/chat/completions", Body(seed));
            Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
            var message = body.GetProperty("choices")[0].GetProperty("message");
            if (!message.TryGetProperty("tool_calls", out var calls) || calls.GetArrayLength() == 0)
            {
                failures.Add($"seed {seed}: no call: {body}");
                continue;
            }
            foreach (var call in calls.EnumerateArray())
            {
                var function = call.GetProperty("function");
                if (Problem(function.GetProperty("name").GetString()!, function.GetProperty("arguments").GetString()!) is { } problem)
                    failures.Add($"seed {seed}: {problem}");
            }
        }
        Assert.IsEmpty(failures, string.Join("\n", failures.Take(5)));
    }

    [TestMethod]
    public async Task AStreamedAutoCallArrivesAsDeltasThatJoinToValidArguments()
    {
        using var response = await _server.PostStreamAsync("/v1/chat/completions", Body(3, ""","stream":true"""));
        var events = await ServerSentEvents.ReadAllAsync(response);
        var calls = events.Where(e => e != ServerSentEvents.Done).Select(ServerSentEvents.Json)
            .Select(e => e.GetProperty("choices")[0].GetProperty("delta"))
            .Where(d => d.TryGetProperty("tool_calls", out _))
            .Select(d => d.GetProperty("tool_calls").EnumerateArray().Single()).ToList();
        Assert.IsNotEmpty(calls, string.Join("\n", events));
        var name = calls[0].GetProperty("function").GetProperty("name").GetString()!;
        string arguments = string.Concat(calls.Where(c => c.GetProperty("index").GetInt32() == 0)
            .Select(c => c.GetProperty("function").TryGetProperty("arguments", out var a) ? a.GetString() : ""));
        Assert.IsNull(Problem(name, arguments), arguments);
    }

    [TestMethod]
    public async Task AStopStringNeverCutsAResponseFormatDocument()
    {
        const string schema = """{"type":"object","properties":{"flags":{"type":"array","items":{"type":"boolean"},"minItems":2,"maxItems":3},"n":{"type":"integer"}},"required":["flags","n"],"additionalProperties":false}""";
        for (int seed = 1; seed <= 6; seed++)
        {
            var (status, body) = await _server.PostAsync("/v1/chat/completions", $$"""
                {"model":"fortune-llama","messages":{{Question}},"max_tokens":100,"temperature":1,"seed":{{seed}},"stop":[",","true"],
                 "response_format":{"type":"json_schema","json_schema":{"name":"f","schema":{{schema}} } } }
                """);
            Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
            var choice = body.GetProperty("choices")[0];
            string content = choice.GetProperty("message").GetProperty("content").GetString()!;
            Assert.AreEqual("stop", choice.GetProperty("finish_reason").GetString(), content);
            Assert.IsNull(SchemaValidation.Problem(schema, content), content);
        }
    }
}
