using System.Diagnostics;
using System.Net;
using System.Text.Json;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>Many clients at once over HTTP: batching, the queue limit, disconnects, and graceful shutdown.</summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class ServerConcurrencyTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    private static string EndlessCompletion(int maxTokens, bool stream = true) =>
        JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = "A fool", max_tokens = maxTokens, ignore_eos = true, stream });

    private static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? within = null)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > (within ?? Patience))
                Assert.Fail($"timed out after {watch.Elapsed.TotalSeconds:F1} s waiting until {what}");
            await Task.Delay(10);
        }
    }

    [TestMethod]
    public async Task WhenSlotsAndQueueAreFullRequestsGet429WithRetryAfter()
    {
        await using var server = await TestServer.StartAsync(o => o with { MaxBatch = 1, MaxQueue = 1 });
        var scheduler = server.Server.Model.Model!.Scheduler;
        await server.PostAsync("/v1/completions", EndlessCompletion(2, stream: false)); // warm the request path

        // The sample model is fast: a long request can finish before the next one arrives, so the full state is
        // checked before the refused request and the scenario retried (a bounded number of times) when it was missed.
        for (int attempt = 1; ; attempt++)
        {
            var streams = await Task.WhenAll(
                server.PostStreamAsync("/v1/completions", EndlessCompletion(480)),
                server.PostStreamAsync("/v1/completions", EndlessCompletion(480)));
            try
            {
                Assert.IsTrue(streams.All(r => r.StatusCode == HttpStatusCode.OK));
                if (scheduler.InFlight == 2)
                {
                    using var refused = await server.Http.PostAsync("/v1/completions", new StringContent(EndlessCompletion(5, stream: false)));
                    if (refused.StatusCode == HttpStatusCode.TooManyRequests)
                    {
                        Assert.AreEqual(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.Delta);
                        var error = (await TestServer.ReadJsonAsync(refused)).GetProperty("error");
                        Assert.AreEqual("rate_limit_exceeded", error.GetProperty("code").GetString());
                        Assert.AreEqual("requests", error.GetProperty("type").GetString());
                        Assert.IsFalse(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
                        Assert.AreEqual(1, server.Server.Metrics.RejectedRequests);
                        Assert.AreEqual(1, server.Server.Metrics.Requests("/v1/completions", 429));
                        return;
                    }
                }
                Assert.IsTrue(attempt < 3, "the server never had both requests in flight at once");
            }
            finally
            {
                foreach (var stream in streams)
                    stream.Dispose();
            }
            await WaitUntilAsync(() => scheduler.InFlight == 0, "the slots are free again");
        }
    }

    /// <summary>
    /// Runs <paramref name="abandon"/> (a request the client gives up on) beside three long streams that started first,
    /// with the same length, on four slots, and checks that its slot is freed while those still run: run to the end, it
    /// would finish after them. The sample model is fast, so a try where they ended first proves nothing and is
    /// repeated, a bounded number of times.
    /// </summary>
    private static async Task AssertAbandonedRequestFreesItsSlotEarlyAsync(Func<TestServer, Task> abandon)
    {
        await using var server = await TestServer.StartAsync(o => o with { MaxBatch = 4, MaxQueue = 0 });
        var scheduler = server.Server.Model.Model!.Scheduler;
        await server.PostAsync("/v1/completions", EndlessCompletion(2, stream: false)); // warm the request path
        for (int attempt = 1; ; attempt++)
        {
            // Every earlier request has ended and been counted, so the 499 below is this try's.
            await WaitUntilAsync(() => server.Server.Metrics.Requests("/v1/completions") == 1 + 4 * (attempt - 1), "earlier requests are counted");
            var background = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => server.PostStreamAsync("/v1/completions", EndlessCompletion(480))));
            long closed = server.Server.Metrics.Requests("/v1/completions", 499);
            bool early;
            try
            {
                await abandon(server);
                await WaitUntilAsync(() => scheduler.InFlight <= 3, "the abandoned request's slot is free");
                early = scheduler.InFlight == 3;
                if (early)
                    await WaitUntilAsync(() => server.Server.Metrics.Requests("/v1/completions", 499) == closed + 1,
                        $"the request is counted as closed by the client (499s: {server.Server.Metrics.Requests("/v1/completions", 499)} vs {closed} before; 200s: {server.Server.Metrics.Requests("/v1/completions", 200)}; all: {server.Server.Metrics.Requests("/v1/completions")})");
            }
            finally
            {
                foreach (var stream in background)
                    stream.Dispose();
            }
            await WaitUntilAsync(() => scheduler.InFlight == 0 && server.Server.Metrics.ActiveSequences == 0, "every slot is free");
            if (early)
                break;
            Assert.IsTrue(attempt < 3, "the abandoned request was never seen freed before its neighbours finished");
        }

        // Freed slots serve new requests normally.
        var reference = FortuneReference.Greedy()[0];
        var (status, body) = await server.PostAsync("/v1/completions",
            JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = reference.Prompt, max_tokens = 40 }));
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        Assert.AreEqual(reference.TextUntilEos, body.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [TestMethod]
    public Task AClientDisconnectingMidStreamFreesItsSlot() => AssertAbandonedRequestFreesItsSlotEarlyAsync(async server =>
    {
        var response = await server.PostStreamAsync("/v1/completions", EndlessCompletion(480));
        await using (var events = ServerSentEvents.ReadAsync(response).GetAsyncEnumerator())
            for (int i = 0; i < 2; i++)
                Assert.IsTrue(await events.MoveNextAsync());
        response.Dispose(); // closes the connection mid-stream
    });

    [TestMethod]
    public Task AClientAbandoningANonStreamedRequestFreesItsSlot() => AssertAbandonedRequestFreesItsSlotEarlyAsync(async server =>
    {
        using var cancel = new CancellationTokenSource();
        var request = server.Http.PostAsync("/v1/completions", new StringContent(EndlessCompletion(480, stream: false)), cancel.Token);
        await WaitUntilAsync(() => server.Server.Model.Model!.Scheduler.InFlight == 4, "the request is decoding");
        cancel.Cancel();
        await Assert.ThrowsAsync<OperationCanceledException>(() => request);
    });

    [TestMethod]
    public async Task ThirtyTwoStreamingClientsOnEightSlotsAllGetTheirAloneOutputs()
    {
        await using var server = await TestServer.StartAsync(o => o with { MaxBatch = 8, MaxQueue = 32 });
        var references = FortuneReference.Greedy();
        string[] messages = ["Tell me a fortune.", "What is the meaning of life?", "Say something wise."];
        var chatExpected = messages.Select(m => AloneGeneration.Chat(m, new GenerationOptions { MaxNewTokens = 24 }).Text).ToArray();
        using var deadline = new CancellationTokenSource(Patience);

        var clients = Enumerable.Range(0, 32).Select(async i =>
        {
            bool chat = i % 2 == 1;
            string path = chat ? "/v1/chat/completions" : "/v1/completions";
            string body = chat
                ? JsonSerializer.Serialize(new { model = TestServer.ModelId, messages = new[] { new { role = "user", content = messages[i / 2 % messages.Length] } },
                    max_tokens = 24, stream = true, stream_options = new { include_usage = true } })
                : JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = references[i / 2 % references.Count].Prompt,
                    max_tokens = 40, stream = true, stream_options = new { include_usage = true } });
            using var response = await server.PostStreamAsync(path, body, deadline.Token);
            Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, $"client {i}");
            var events = await ServerSentEvents.ReadAllAsync(response, deadline.Token);
            Assert.AreEqual(ServerSentEvents.Done, events[^1], $"client {i}'s stream completes");
            string text = chat ? ServerSentEvents.ChatText(events) : ServerSentEvents.CompletionText(events);
            string expected = chat ? chatExpected[i / 2 % messages.Length] : references[i / 2 % references.Count].TextUntilEos;
            Assert.AreEqual(expected, text, $"client {i}");
            Assert.IsTrue(ServerSentEvents.Json(events[^2]).GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 0);
        }).ToList();
        await Task.WhenAll(clients);

        Assert.AreEqual(16, server.Server.Metrics.Requests("/v1/completions", 200));
        Assert.AreEqual(16, server.Server.Metrics.Requests("/v1/chat/completions", 200));
        Assert.AreEqual(0, server.Server.Metrics.RejectedRequests);
        await WaitUntilAsync(() => server.Server.Model.Model!.Scheduler.InFlight == 0, "every slot is free");
    }

    [TestMethod]
    public async Task ShutdownLetsInFlightStreamsFinishThenRefusesNewRequests()
    {
        var server = await TestServer.StartAsync(o => o with { MaxBatch = 2, ShutdownTimeout = TimeSpan.FromSeconds(30) });
        var reference = FortuneReference.Greedy()[0];
        using var response = await server.PostStreamAsync("/v1/completions",
            JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = reference.Prompt, max_tokens = 40, stream = true }));
        var events = new List<string>();
        var reader = ServerSentEvents.ReadAsync(response).GetAsyncEnumerator();
        Assert.IsTrue(await reader.MoveNextAsync());
        events.Add(reader.Current);

        var stopping = server.Server.StopAsync();
        while (await reader.MoveNextAsync())
            events.Add(reader.Current);
        await reader.DisposeAsync();
        Assert.AreEqual(ServerSentEvents.Done, events[^1]);
        Assert.AreEqual(reference.TextUntilEos, ServerSentEvents.CompletionText(events));
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));

        await Assert.ThrowsAsync<HttpRequestException>(() => server.Http.GetAsync("/health"));
        await server.DisposeAsync();
    }

    [TestMethod]
    public async Task ShutdownCancelsWorkStillRunningAtTheDeadline()
    {
        var server = await TestServer.StartAsync(o => o with { MaxBatch = 1, ShutdownTimeout = TimeSpan.FromMilliseconds(200) });
        using var response = await server.PostStreamAsync("/v1/completions", EndlessCompletion(480));
        var events = new List<string>();
        var reader = ServerSentEvents.ReadAsync(response).GetAsyncEnumerator();
        Assert.IsTrue(await reader.MoveNextAsync());

        var watch = Stopwatch.StartNew();
        var stopping = server.Server.StopAsync();
        while (await reader.MoveNextAsync())
            events.Add(reader.Current);
        await reader.DisposeAsync();
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.IsTrue(watch.Elapsed < TimeSpan.FromSeconds(15), $"shutdown took {watch.Elapsed}");

        // The stream ends with OpenAI's error event, not [DONE].
        Assert.AreNotEqual(ServerSentEvents.Done, events[^1]);
        var error = ServerSentEvents.Json(events[^1]).GetProperty("error");
        Assert.AreEqual("service_unavailable", error.GetProperty("code").GetString());
        await server.DisposeAsync();
    }
}
