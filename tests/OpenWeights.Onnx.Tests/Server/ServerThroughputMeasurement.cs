using System.Diagnostics;
using System.Net;
using System.Text.Json;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// Not a test: measures throughput (tokens/s over all requests) of 32 concurrent requests with --max-batch 1 and 8.
/// Runs only with OWONNX_SERVER_BENCH=1, e.g.
/// <c>OWONNX_SERVER_BENCH=1 dotnet test --filter FullyQualifiedName~ServerThroughputMeasurement --logger "console;verbosity=detailed"</c>.
/// </summary>
[TestClass]
public sealed class ServerThroughputMeasurement
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(1)]
    [DataRow(8)]
    public async Task ThirtyTwoConcurrentRequests(int maxBatch)
    {
        if (Environment.GetEnvironmentVariable("OWONNX_SERVER_BENCH") != "1")
            Assert.Inconclusive("a measurement; set OWONNX_SERVER_BENCH=1 to run it.");
        const int clients = 32, maxTokens = 128;
        int? threads = int.TryParse(Environment.GetEnvironmentVariable("OWONNX_SERVER_BENCH_THREADS"), out int t) ? t : null;
        await using var server = await TestServer.StartAsync(o => o with { MaxBatch = maxBatch, MaxQueue = clients, Threads = threads });
        var prompts = FortuneReference.Greedy().Select(r => r.Prompt).ToArray();
        string Body(int i) => JsonSerializer.Serialize(new
        {
            model = TestServer.ModelId, prompt = prompts[i % prompts.Length], max_tokens = maxTokens, ignore_eos = true,
            stream = true, stream_options = new { include_usage = true },
        });
        await server.PostAsync("/v1/completions", JsonSerializer.Serialize(new { model = TestServer.ModelId, prompt = "warm", max_tokens = 4 }));

        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var watch = Stopwatch.StartNew();
        var usages = await Task.WhenAll(Enumerable.Range(0, clients).Select(async i =>
        {
            using var response = await server.PostStreamAsync("/v1/completions", Body(i), deadline.Token);
            Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
            var events = await ServerSentEvents.ReadAllAsync(response, deadline.Token);
            var usage = ServerSentEvents.Json(events[^2]).GetProperty("usage");
            return (Prompt: usage.GetProperty("prompt_tokens").GetInt32(), Completion: usage.GetProperty("completion_tokens").GetInt32());
        }));
        double seconds = watch.Elapsed.TotalSeconds;
        int completion = usages.Sum(u => u.Completion), total = usages.Sum(u => u.Prompt + u.Completion);
        string line = $"max-batch {maxBatch}, threads {threads?.ToString() ?? "default"}: {clients} requests × {maxTokens} tokens in {seconds:F2} s: " +
                      $"{completion / seconds:F0} generated tokens/s, {total / seconds:F0} total (prompt + generated) tokens/s, " +
                      $"{server.Server.Model.Model!.Scheduler.Steps} decode steps";
        TestContext.WriteLine(line);
        Console.WriteLine(line);
    }
}
