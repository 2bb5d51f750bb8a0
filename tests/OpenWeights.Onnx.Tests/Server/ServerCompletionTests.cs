using System.Net;
using System.Text.Json;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>The API's successful answers: shapes exactly as OpenAI's, and the same text as the library alone.</summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class ServerCompletionTests
{
    private const string UserMessage = "Tell me a fortune.";
    private static TestServer _server = null!;

    [ClassInitialize]
    public static async Task StartAsync(TestContext _) => _server = await TestServer.StartAsync();

    [ClassCleanup]
    public static async Task StopAsync() => await _server.DisposeAsync();

    private static string ChatBody(int maxTokens, string extra = "") =>
        $$"""{"model":"fortune-llama","messages":[{"role":"user","content":"{{UserMessage}}"}],"max_tokens":{{maxTokens}},"temperature":0{{extra}}}""";

    [TestMethod]
    public async Task ChatCompletionEqualsRunChatWithOpenAisShape()
    {
        var expected = AloneGeneration.Chat(UserMessage, new GenerationOptions { MaxNewTokens = 30 });
        long before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var (status, body) = await _server.PostAsync("/v1/chat/completions", ChatBody(30));

        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        StringAssert.StartsWith(body.GetProperty("id").GetString(), "chatcmpl-");
        Assert.AreEqual("chat.completion", body.GetProperty("object").GetString());
        Assert.AreEqual(TestServer.ModelId, body.GetProperty("model").GetString());
        long created = body.GetProperty("created").GetInt64();
        Assert.IsTrue(created >= before && created <= DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1, $"created {created}");
        var choice = body.GetProperty("choices").EnumerateArray().Single();
        Assert.AreEqual(0, choice.GetProperty("index").GetInt32());
        Assert.AreEqual("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.AreEqual(expected.Text, choice.GetProperty("message").GetProperty("content").GetString());
        Assert.AreEqual(expected.FinishReason == FinishReason.Stop ? "stop" : "length", choice.GetProperty("finish_reason").GetString());
        Assert.AreEqual(JsonValueKind.Null, choice.GetProperty("logprobs").ValueKind);

        var usage = body.GetProperty("usage");
        Assert.AreEqual(expected.Stats.PromptTokens, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.AreEqual(expected.TokenIds.Count, usage.GetProperty("completion_tokens").GetInt32());
        Assert.AreEqual(expected.Stats.PromptTokens + expected.TokenIds.Count, usage.GetProperty("total_tokens").GetInt32());
    }

    [TestMethod]
    public async Task StreamedChatGivesTheSameTextInChunksThenUsageThenDone()
    {
        var expected = AloneGeneration.Chat(UserMessage, new GenerationOptions { MaxNewTokens = 30 });
        using var response = await _server.PostStreamAsync("/v1/chat/completions",
            ChatBody(30, ""","stream":true,"stream_options":{"include_usage":true}"""));
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        Assert.AreEqual("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = await ServerSentEvents.ReadAllAsync(response);

        Assert.AreEqual(ServerSentEvents.Done, events[^1]);
        var chunks = events[..^1].Select(ServerSentEvents.Json).ToList();
        Assert.IsTrue(chunks.Count >= 4, $"{chunks.Count} chunks");
        string id = chunks[0].GetProperty("id").GetString()!;
        StringAssert.StartsWith(id, "chatcmpl-");
        foreach (var chunk in chunks)
        {
            Assert.AreEqual(id, chunk.GetProperty("id").GetString());
            Assert.AreEqual("chat.completion.chunk", chunk.GetProperty("object").GetString());
            Assert.AreEqual(TestServer.ModelId, chunk.GetProperty("model").GetString());
        }
        Assert.AreEqual("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.AreEqual(expected.Text, ServerSentEvents.ChatText(events));

        // The last chunk with a choice says why it ended; then one with no choices carries the usage.
        var final = chunks[^2].GetProperty("choices").EnumerateArray().Single();
        Assert.AreEqual(expected.FinishReason == FinishReason.Stop ? "stop" : "length", final.GetProperty("finish_reason").GetString());
        foreach (var chunk in chunks[..^2])
            Assert.AreEqual(JsonValueKind.Null, chunk.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind);
        Assert.AreEqual(0, chunks[^1].GetProperty("choices").GetArrayLength());
        var usage = chunks[^1].GetProperty("usage");
        Assert.AreEqual(expected.Stats.PromptTokens, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.AreEqual(expected.TokenIds.Count, usage.GetProperty("completion_tokens").GetInt32());
        Assert.AreEqual(expected.Stats.PromptTokens + expected.TokenIds.Count, usage.GetProperty("total_tokens").GetInt32());
    }

    [TestMethod]
    public async Task CompletionsGiveTheReferenceGreedyTextsWithUsage()
    {
        foreach (var reference in FortuneReference.Greedy())
        {
            bool stoppedAtEos = reference.GenerateApiIds[^1] == 0;
            int generated = stoppedAtEos ? reference.GenerateApiIds.Length - 1 : reference.GenerateApiIds.Length;
            var (status, body) = await _server.PostAsync("/v1/completions",
                JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = reference.Prompt, max_tokens = 40, temperature = 0 }));

            Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
            StringAssert.StartsWith(body.GetProperty("id").GetString(), "cmpl-");
            Assert.AreEqual("text_completion", body.GetProperty("object").GetString());
            var choice = body.GetProperty("choices").EnumerateArray().Single();
            Assert.AreEqual(reference.TextUntilEos, choice.GetProperty("text").GetString(), $"text for '{reference.Prompt}'");
            Assert.AreEqual(stoppedAtEos ? "stop" : "length", choice.GetProperty("finish_reason").GetString());
            var usage = body.GetProperty("usage");
            Assert.AreEqual(reference.InputIds.Length, usage.GetProperty("prompt_tokens").GetInt32());
            Assert.AreEqual(generated, usage.GetProperty("completion_tokens").GetInt32());
            Assert.AreEqual(reference.InputIds.Length + generated, usage.GetProperty("total_tokens").GetInt32());
        }
    }

    [TestMethod]
    public async Task StreamedCompletionGivesTheReferenceText()
    {
        var reference = FortuneReference.Greedy()[0];
        using var response = await _server.PostStreamAsync("/v1/completions",
            JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = reference.Prompt, max_tokens = 40, stream = true }));
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        var events = await ServerSentEvents.ReadAllAsync(response);
        Assert.AreEqual(ServerSentEvents.Done, events[^1]);
        foreach (var chunk in events[..^1].Select(ServerSentEvents.Json))
            Assert.AreEqual("text_completion", chunk.GetProperty("object").GetString());
        Assert.AreEqual(reference.TextUntilEos, ServerSentEvents.CompletionText(events));
        Assert.AreEqual("stop", ServerSentEvents.Json(events[^2]).GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [TestMethod]
    public async Task APromptOfTokenIdsIsTheSameAsItsText()
    {
        var reference = FortuneReference.Greedy()[1];
        var (status, body) = await _server.PostAsync("/v1/completions",
            JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = reference.InputIds, max_tokens = 40 }));
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        Assert.AreEqual(reference.TextUntilEos, body.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [TestMethod]
    public async Task StopStringEndsTheTextBeforeIt()
    {
        var reference = FortuneReference.Greedy()[0];
        var (status, body) = await _server.PostAsync("/v1/completions",
            JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = reference.Prompt, max_tokens = 40, stop = new[] { "nothing here", "good thing" } }));
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        var choice = body.GetProperty("choices")[0];
        Assert.AreEqual(reference.TextUntilEos[..reference.TextUntilEos.IndexOf("good thing", StringComparison.Ordinal)], choice.GetProperty("text").GetString());
        Assert.AreEqual("stop", choice.GetProperty("finish_reason").GetString());
    }

    [TestMethod]
    public async Task ChatLogProbsListEveryTokenWithItsAlternatives()
    {
        var (status, body) = await _server.PostAsync("/v1/chat/completions", ChatBody(8, ""","logprobs":true,"top_logprobs":3"""));
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        var choice = body.GetProperty("choices")[0];
        var content = choice.GetProperty("logprobs").GetProperty("content").EnumerateArray().ToList();
        Assert.AreEqual(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), content.Count);
        var text = new List<byte>();
        foreach (var token in content)
        {
            float logprob = token.GetProperty("logprob").GetSingle();
            Assert.IsTrue(logprob <= 0f, $"logprob {logprob}");
            var top = token.GetProperty("top_logprobs").EnumerateArray().ToList();
            Assert.AreEqual(3, top.Count);
            // Greedy: the chosen token is the most likely one.
            Assert.AreEqual(token.GetProperty("token").GetString(), top[0].GetProperty("token").GetString());
            Assert.AreEqual(logprob, top[0].GetProperty("logprob").GetSingle(), 1e-5f);
            Assert.IsTrue(top[0].GetProperty("logprob").GetSingle() >= top[1].GetProperty("logprob").GetSingle());
            text.AddRange(token.GetProperty("bytes").EnumerateArray().Select(b => (byte)b.GetInt32()));
        }
        Assert.AreEqual(choice.GetProperty("message").GetProperty("content").GetString(), System.Text.Encoding.UTF8.GetString(text.ToArray()));
    }

    [TestMethod]
    public async Task CompletionLogProbsUseTheLegacyShape()
    {
        var (status, body) = await _server.PostAsync("/v1/completions",
            JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = "The best way to", max_tokens = 6, logprobs = 2 }));
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        var logprobs = body.GetProperty("choices")[0].GetProperty("logprobs");
        int n = body.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        Assert.AreEqual(n, logprobs.GetProperty("tokens").GetArrayLength());
        Assert.AreEqual(n, logprobs.GetProperty("token_logprobs").GetArrayLength());
        Assert.AreEqual(n, logprobs.GetProperty("text_offset").GetArrayLength());
        foreach (var top in logprobs.GetProperty("top_logprobs").EnumerateArray())
            Assert.IsTrue(top.EnumerateObject().Count() is >= 1 and <= 2);
        Assert.AreEqual(body.GetProperty("choices")[0].GetProperty("text").GetString(),
            string.Concat(logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString())));
    }

    [TestMethod]
    public async Task ModelsHealthAndMetricsDescribeTheServer()
    {
        var (status, models) = await _server.GetAsync("/v1/models");
        Assert.AreEqual(HttpStatusCode.OK, status);
        Assert.AreEqual("list", models.GetProperty("object").GetString());
        var model = models.GetProperty("data").EnumerateArray().Single();
        Assert.AreEqual(TestServer.ModelId, model.GetProperty("id").GetString());
        Assert.AreEqual("model", model.GetProperty("object").GetString());
        Assert.IsTrue(model.GetProperty("created").GetInt64() > 0);
        Assert.AreEqual("owonnx", model.GetProperty("owned_by").GetString());

        var (one, card) = await _server.GetAsync("/v1/models/fortune-llama");
        Assert.AreEqual(HttpStatusCode.OK, one);
        Assert.AreEqual(TestServer.ModelId, card.GetProperty("id").GetString());

        var (healthStatus, health) = await _server.GetAsync("/health");
        Assert.AreEqual(HttpStatusCode.OK, healthStatus);
        Assert.AreEqual("ok", health.GetProperty("status").GetString());

        await _server.PostAsync("/v1/completions", JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = "A", max_tokens = 3 }));
        using var response = await _server.Http.GetAsync("/metrics");
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        StringAssert.StartsWith(response.Content.Headers.ContentType?.ToString(), "text/plain; version=0.0.4");
        string text = await response.Content.ReadAsStringAsync();
        foreach (string expected in (string[])[
                     "# TYPE owonnx_requests_total counter", "owonnx_requests_total{endpoint=\"/v1/completions\",status=\"200\"}",
                     "# TYPE owonnx_prompt_tokens_total counter", "# TYPE owonnx_generation_tokens_total counter",
                     "# TYPE owonnx_time_to_first_token_seconds histogram", "owonnx_time_to_first_token_seconds_bucket{le=\"+Inf\"}",
                     "# TYPE owonnx_time_per_output_token_seconds histogram", "owonnx_time_per_output_token_seconds_count",
                     "# TYPE owonnx_queue_depth gauge", "# TYPE owonnx_active_sequences gauge", "owonnx_batch_slots 4"])
            StringAssert.Contains(text, expected);
        long generated = long.Parse(text.Split('\n').Single(l => l.StartsWith("owonnx_generation_tokens_total ", StringComparison.Ordinal)).Split(' ')[1]);
        Assert.IsTrue(generated >= 3, $"generation tokens {generated}");
    }
}
