using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Server;
using OpenWeights.Onnx.Benchmarking;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// Time to first token with and without the prefix cache: chat requests that share a long system prompt and differ in
/// the user's question, each answered with one token (the latency is queueing + prefill + one sample). Two servers of
/// the same model run side by side in this process, one with <c>PrefixCache</c> off (the baseline), and are asked in
/// alternation, so both see the same machine load; reported are the medians and their ratio.
/// </summary>
public static class PrefixCacheBenchmark
{
    public static async Task<int> RunAsync(string modelDirectory, int? threads, int rounds)
    {
        string model = Path.GetFileName(Path.TrimEndingDirectorySeparator(modelDirectory));
        await using var cached = await StartAsync(modelDirectory, threads, prefixCache: true);
        await using var plain = await StartAsync(modelDirectory, threads, prefixCache: false);
        int maxLength = cached.Model.Model!.MaxLength;
        string system = SystemPrompt(cached, maxLength - 48);

        using var cachedHttp = new HttpClient { BaseAddress = cached.BaseAddress, Timeout = TimeSpan.FromMinutes(10) };
        using var plainHttp = new HttpClient { BaseAddress = plain.BaseAddress, Timeout = TimeSpan.FromMinutes(10) };
        string Body(int round) => JsonSerializer.Serialize(new
        {
            model,
            messages = new object[]
            {
                new { role = "system", content = system },
                new { role = "user", content = $"Question {round}: what does fortune {round * 7 % 100} say?" },
            },
            max_tokens = 1, ignore_eos = true, temperature = 0,
        });
        // Warm both (and fill the cached server's cache with the system prompt).
        await AskAsync(cachedHttp, Body(-1));
        await AskAsync(plainHttp, Body(-1));

        var withCache = new List<double>();
        var without = new List<double>();
        int promptTokens = 0, cachedTokens = 0;
        for (int round = 0; round < rounds; round++)
        {
            var (seconds, prompt, reused) = await AskAsync(cachedHttp, Body(round));
            withCache.Add(seconds);
            (promptTokens, cachedTokens) = (prompt, reused);
            without.Add((await AskAsync(plainHttp, Body(round))).Seconds);
        }
        double medianWith = Statistic.Of(withCache).Median, medianWithout = Statistic.Of(without).Median;
        Console.WriteLine($"{model}, threads {threads?.ToString() ?? "all"}: prompt {promptTokens} tokens (system prompt shared; {cachedTokens} from the cache), {rounds} rounds");
        Console.WriteLine($"time to first token, median: without cache {medianWithout * 1000:F1} ms, with cache {medianWith * 1000:F1} ms; " +
                          $"ratio {medianWithout / medianWith:F2}× faster with the cache");
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            model, prompt_tokens = promptTokens, cached_tokens = cachedTokens, rounds,
            ttft_ms_without_cache = medianWithout * 1000, ttft_ms_with_cache = medianWith * 1000,
            speedup = medianWithout / medianWith,
        }));
        return 0;
    }

    private static async Task<OpenAiServer> StartAsync(string modelDirectory, int? threads, bool prefixCache)
    {
        var server = OpenAiServer.Create(new ServerOptions
        {
            ModelDirectory = modelDirectory, Host = "127.0.0.1", Port = 0, MaxBatch = 2, MaxQueue = 4, Threads = threads,
            PrefixCache = prefixCache, HandleSignals = false, ConsoleLogging = false, ShutdownTimeout = TimeSpan.FromSeconds(10),
        });
        await server.StartAsync();
        await server.Model.Ready.WaitAsync(TimeSpan.FromMinutes(5));
        return server;
    }

    /// <summary>A system prompt of about <paramref name="tokens"/> tokens of the model's tokenizer.</summary>
    private static string SystemPrompt(OpenAiServer server, int tokens)
    {
        string[] sentences =
        [
            "You are a patient assistant who answers questions about fortunes.",
            "Every answer is short, kind and true to the fortune it quotes.",
            "When a question is unclear, say what you understood and answer that.",
            "Never invent a fortune that is not in the collection.",
            "The collection holds sayings, jokes, quotations and small poems.",
        ];
        var text = new StringBuilder();
        var tokenizer = server.Model.Model!.Tokenizer;
        for (int i = 0; ; i++)
        {
            string next = text + sentences[i % sentences.Length] + " ";
            if (tokenizer.Encode(next, addSpecialTokens: false).Length > tokens)
                return text.ToString();
            text.Clear().Append(next);
        }
    }

    private static async Task<(double Seconds, int PromptTokens, int CachedTokens)> AskAsync(HttpClient http, string body)
    {
        var watch = Stopwatch.StartNew();
        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        double seconds = watch.Elapsed.TotalSeconds;
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"the server answered {(int)response.StatusCode}: {text}");
        var usage = JsonDocument.Parse(text).RootElement.GetProperty("usage");
        return (seconds, usage.GetProperty("prompt_tokens").GetInt32(),
            usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
    }

}
