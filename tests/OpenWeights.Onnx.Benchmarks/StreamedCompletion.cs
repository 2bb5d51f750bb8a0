using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// One streamed /v1/completions request as its client sees it: when each token event arrived (Stopwatch timestamps),
/// and the usage of the last event.
/// </summary>
public sealed class StreamedCompletion
{
    private readonly List<long> _arrivals = [];

    public long SentAt { get; private set; }
    /// <summary>Arrival timestamps of the events that carried text (one per token, except held-back text).</summary>
    public IReadOnlyList<long> Arrivals => _arrivals;
    public int PromptTokens { get; private set; }
    public int CompletionTokens { get; private set; }

    /// <summary>Thread-safe count of token events so far (read by a watcher while the stream runs).</summary>
    public int EventsSoFar => Volatile.Read(ref _events);
    private int _events;

    /// <summary>Generated tokens per second after the first one, as <c>owonnx run</c> counts them: (n − 1) ÷ (last − first).</summary>
    public double DecodeTokensPerSecond =>
        _arrivals.Count < 2 ? 0 : (CompletionTokens - 1) / Stopwatch.GetElapsedTime(_arrivals[0], _arrivals[^1]).TotalSeconds;

    /// <summary>Posts <paramref name="body"/> (a streamed completion request) and reads its events to the end.</summary>
    public static async Task<StreamedCompletion> RunAsync(HttpClient http, object body)
    {
        var result = new StreamedCompletion();
        string json = JsonSerializer.Serialize(body);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        result.SentAt = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? line, last = null;
        while ((line = await reader.ReadLineAsync()) is not null)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
                continue;
            long now = Stopwatch.GetTimestamp();
            string data = line["data: ".Length..];
            if (data == "[DONE]")
                break;
            last = data;
            using var doc = JsonDocument.Parse(data);
            if (doc.RootElement.TryGetProperty("error", out var error))
                throw new InvalidOperationException($"the stream failed: {error}");
            if (doc.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                && choices[0].TryGetProperty("text", out var text) && text.GetString() is { Length: > 0 })
            {
                result._arrivals.Add(now);
                Interlocked.Increment(ref result._events);
            }
        }
        var usage = JsonDocument.Parse(last ?? throw new InvalidDataException("the stream carried no events")).RootElement.GetProperty("usage");
        result.PromptTokens = usage.GetProperty("prompt_tokens").GetInt32();
        result.CompletionTokens = usage.GetProperty("completion_tokens").GetInt32();
        return result;
    }
}
