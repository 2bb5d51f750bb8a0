using System.Net;
using System.Text.Json;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// Over HTTP: <c>n</c> choices (whole and streamed, indexed 0..n−1, seeded reproducibly), and the prefix cache as
/// clients see it (<c>usage.prompt_tokens_details.cached_tokens</c>, /metrics, the same text as with the cache off).
/// </summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class ServerChoicesAndCacheTests
{
    private static TestServer _server = null!;

    [ClassInitialize]
    public static async Task StartAsync(TestContext _) => _server = await TestServer.StartAsync();

    [ClassCleanup]
    public static async Task StopAsync() => await _server.DisposeAsync();

    private static string ChatBody(int n, long seed) =>
        $$"""{"model":"fortune-llama","messages":[{"role":"user","content":"Tell me a fortune."}],"max_tokens":20,"ignore_eos":true,"temperature":1,"seed":{{seed}},"n":{{n}}}""";

    private static string[] ChatContents(JsonElement body) =>
        body.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("message").GetProperty("content").GetString()!).ToArray();

    [TestMethod]
    public async Task ChatWithNGivesNIndexedChoicesThatASeedReproduces()
    {
        var (status, body) = await _server.PostAsync("/v1/chat/completions", ChatBody(3, 42));
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        var choices = body.GetProperty("choices").EnumerateArray().ToList();
        CollectionAssert.AreEqual(new[] { 0, 1, 2 }, choices.Select(c => c.GetProperty("index").GetInt32()).ToArray());
        Assert.IsTrue(choices.All(c => c.GetProperty("finish_reason").GetString() == "length"));
        var usage = body.GetProperty("usage");
        Assert.AreEqual(60, usage.GetProperty("completion_tokens").GetInt32(), "three choices of 20 tokens");
        Assert.AreEqual(usage.GetProperty("prompt_tokens").GetInt32() + 60, usage.GetProperty("total_tokens").GetInt32());

        var contents = ChatContents(body);
        Assert.AreEqual(3, contents.Distinct().Count(), "sampled choices differ");
        var (_, again) = await _server.PostAsync("/v1/chat/completions", ChatBody(3, 42));
        CollectionAssert.AreEqual(contents, ChatContents(again), "the same request with the same seed");
        var (_, single) = await _server.PostAsync("/v1/chat/completions", ChatBody(1, 42));
        Assert.AreEqual(contents[0], ChatContents(single)[0], "choice 0 samples with the request's seed");
    }

    [TestMethod]
    public async Task StreamedChoicesArriveByIndexAndMatchTheWholeAnswer()
    {
        const string body = """{"model":"fortune-llama","prompt":"Never trust a","max_tokens":15,"ignore_eos":true,"temperature":1,"seed":5,"n":2""";
        var (status, whole) = await _server.PostAsync("/v1/completions", body + "}");
        Assert.AreEqual(HttpStatusCode.OK, status, whole.ToString());
        var texts = whole.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("text").GetString()).ToArray();

        using var response = await _server.PostStreamAsync("/v1/completions", body + ""","stream":true,"stream_options":{"include_usage":true}}""");
        var events = await ServerSentEvents.ReadAllAsync(response);
        Assert.AreEqual(ServerSentEvents.Done, events[^1]);
        var chunks = events[..^1].Select(ServerSentEvents.Json).ToList();
        var choices = chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray()).ToList();
        for (int index = 0; index < 2; index++)
        {
            var mine = choices.Where(c => c.GetProperty("index").GetInt32() == index).ToList();
            Assert.AreEqual(texts[index], string.Concat(mine.Select(c => c.GetProperty("text").GetString())), $"choice {index}'s text");
            Assert.AreEqual(1, mine.Count(c => c.GetProperty("finish_reason").ValueKind == JsonValueKind.String), $"choice {index} ends once");
        }
        Assert.AreEqual(0, chunks[^1].GetProperty("choices").GetArrayLength(), "the usage chunk comes last");
        Assert.AreEqual(30, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [TestMethod]
    public async Task ALongSharedPrefixIsServedFromTheCacheWithTheSameText()
    {
        var window = HeldoutWindow.Load();
        string Body(int length) => JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = window.Prefix(length), max_tokens = 8, temperature = 0 });
        int CachedTokens(JsonElement response) => response.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();

        await using var server = await TestServer.StartAsync(o => o with { MaxBatch = 2 });
        await using var uncached = await TestServer.StartAsync(o => o with { MaxBatch = 2, PrefixCache = false });
        // max_tokens 1: the slot then holds exactly the prompt (the one sampled token is never fed back).
        var (_, first) = await server.PostAsync("/v1/completions",
            JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = window.Prefix(150), max_tokens = 1, temperature = 0 }));
        Assert.AreEqual(0, CachedTokens(first));
        var (status, second) = await server.PostAsync("/v1/completions", Body(200));
        Assert.AreEqual(HttpStatusCode.OK, status, second.ToString());
        Assert.AreEqual(150, CachedTokens(second));
        Assert.AreEqual(200, second.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        var (_, plain) = await uncached.PostAsync("/v1/completions", Body(200));
        Assert.AreEqual(0, CachedTokens(plain));
        Assert.AreEqual(plain.GetProperty("choices")[0].GetProperty("text").GetString(), second.GetProperty("choices")[0].GetProperty("text").GetString());

        string metrics = await server.Http.GetStringAsync("/metrics");
        StringAssert.Contains(metrics, "owonnx_prompt_tokens_cached_total 150\n");
        StringAssert.Contains(await uncached.Http.GetStringAsync("/metrics"), "owonnx_prompt_tokens_cached_total 0\n");
    }
}
