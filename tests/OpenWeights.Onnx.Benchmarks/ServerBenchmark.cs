using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Server;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// Server throughput: 32 concurrent streaming completions of 128 tokens (ignore_eos) against the real server in
/// this process, once per --max-batch value; reports generated and total tokens/s and the decode steps taken.
/// The --max-batch 1 row is the baseline the batched rows are read against (moved here from the test project).
/// </summary>
public static class ServerBenchmark
{
    private const int DefaultClients = 32, MaxTokens = 128;

    /// <summary>
    /// One server per --max-batch value; against each, <paramref name="clientCounts"/> rounds of concurrent requests
    /// (default 32). A round of 1 is the lone request to read against <c>owonnx run</c>/<c>bench</c> decode.
    /// </summary>
    public static async Task<int> RunAsync(string modelDirectory, int? threads, int[] maxBatches, int[]? clientCounts = null)
    {
        // Distinct prompts so that batched sequences differ in length, as real traffic does.
        string[] prompts = ["A fool and his money", "Tell me a fortune.", "You will", "The night is", "Luck favours", "Beware of"];
        foreach (int maxBatch in maxBatches)
        {
            var options = new ServerOptions
            {
                ModelDirectory = modelDirectory, Host = "127.0.0.1", Port = 0, MaxBatch = maxBatch, MaxQueue = Math.Max(DefaultClients, (clientCounts ?? []).DefaultIfEmpty(0).Max()),
                Threads = threads, HandleSignals = false, ConsoleLogging = false, ShutdownTimeout = TimeSpan.FromSeconds(10),
            };
            await using var server = OpenAiServer.Create(options);
            await server.StartAsync();
            await server.Model.Ready.WaitAsync(TimeSpan.FromMinutes(2));
            using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(10) };
            string model = Path.GetFileName(Path.TrimEndingDirectorySeparator(modelDirectory));
            string Body(int i) => JsonSerializer.Serialize(new
            {
                model, prompt = prompts[i % prompts.Length], max_tokens = MaxTokens, ignore_eos = true,
                stream = true, stream_options = new { include_usage = true },
            });
            (await http.PostAsync("/v1/completions", Json(JsonSerializer.Serialize(new { model, prompt = "warm", max_tokens = 4 })))).EnsureSuccessStatusCode();

            foreach (int clients in clientCounts ?? [DefaultClients])
            {
                long stepsBefore = server.Model.Model!.Scheduler.Steps;
                var watch = Stopwatch.StartNew();
                var usages = await Task.WhenAll(Enumerable.Range(0, clients).Select(i => CompleteAsync(http, Body(i))));
                double seconds = watch.Elapsed.TotalSeconds;
                int completion = usages.Sum(u => u.Completion), total = usages.Sum(u => u.Prompt + u.Completion);
                Console.WriteLine($"max-batch {maxBatch}, threads {options.EffectiveThreads}: {clients} requests × {MaxTokens} tokens in {seconds:F2} s: " +
                                  $"{completion / seconds:F1} generated tokens/s, {total / seconds:F1} total (prompt + generated) tokens/s, " +
                                  $"{server.Model.Model!.Scheduler.Steps - stepsBefore} decode steps");
            }
            await server.StopAsync(CancellationToken.None);
        }
        return 0;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>Streams one completion to its end and returns the usage of its last event.</summary>
    private static async Task<(int Prompt, int Completion)> CompleteAsync(HttpClient http, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = Json(body) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? line, last = null;
        while ((line = await reader.ReadLineAsync()) is not null)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            string data = line["data: ".Length..];
            if (data == "[DONE]") break;
            last = data;
        }
        var usage = JsonDocument.Parse(last ?? throw new InvalidDataException("the stream carried no events")).RootElement.GetProperty("usage");
        return (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32());
    }
}
