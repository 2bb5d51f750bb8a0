using System.Collections.Concurrent;

namespace OpenWeights.Onnx.Server.Metrics;

/// <summary>
/// The server's counters, gauges and histograms, exposed at /metrics: requests by endpoint and status, prompt and
/// completion tokens, time to first token, time per output token, request duration, queue depth and active sequences.
/// </summary>
public sealed class ServerMetrics
{
    private readonly ConcurrentDictionary<(string Endpoint, int Status), StrongBox> _requests = new();
    private long _promptTokens, _cachedPromptTokens, _completionTokens, _rejected;
    private int _queueDepth, _activeSequences, _slots;

    public Histogram TimeToFirstToken { get; } = new("owonnx_time_to_first_token_seconds",
        "Time from a request entering the queue to its first generated token.",
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);

    public Histogram TimePerOutputToken { get; } = new("owonnx_time_per_output_token_seconds",
        "Time between consecutive generated tokens of one sequence.",
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5]);

    public Histogram RequestDuration { get; } = new("owonnx_request_duration_seconds",
        "Time from a request's arrival to the end of its response.",
        [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]);

    public long PromptTokens => Interlocked.Read(ref _promptTokens);
    public long CachedPromptTokens => Interlocked.Read(ref _cachedPromptTokens);
    public long CompletionTokens => Interlocked.Read(ref _completionTokens);
    public long RejectedRequests => Interlocked.Read(ref _rejected);
    public int QueueDepth => Volatile.Read(ref _queueDepth);
    public int ActiveSequences => Volatile.Read(ref _activeSequences);

    public long Requests(string endpoint, int status) =>
        _requests.TryGetValue((endpoint, status), out var box) ? Interlocked.Read(ref box.Value) : 0;

    /// <summary>Requests to <paramref name="endpoint"/> that have ended, whatever their status.</summary>
    public long Requests(string endpoint) =>
        _requests.Where(e => e.Key.Endpoint == endpoint).Sum(e => Interlocked.Read(ref e.Value.Value));

    public void CountRequest(string endpoint, int status) =>
        Interlocked.Increment(ref _requests.GetOrAdd((endpoint, status), _ => new StrongBox()).Value);

    public void AddPromptTokens(int count) => Interlocked.Add(ref _promptTokens, count);
    public void AddCachedPromptTokens(int count) => Interlocked.Add(ref _cachedPromptTokens, count);
    public void AddCompletionToken() => Interlocked.Increment(ref _completionTokens);
    public void CountRejected() => Interlocked.Increment(ref _rejected);

    public void SetScheduler(int queueDepth, int activeSequences, int slots)
    {
        Volatile.Write(ref _queueDepth, queueDepth);
        Volatile.Write(ref _activeSequences, activeSequences);
        Volatile.Write(ref _slots, slots);
    }

    public string ToPrometheusText()
    {
        var w = new PrometheusTextWriter();
        w.Header("owonnx_requests_total", "counter", "HTTP requests by endpoint and status code (499: the client disconnected).");
        foreach (var ((endpoint, status), box) in _requests.OrderBy(e => e.Key.Endpoint, StringComparer.Ordinal).ThenBy(e => e.Key.Status))
            w.Sample("owonnx_requests_total", Interlocked.Read(ref box.Value), ("endpoint", endpoint), ("status", status.ToString()));
        w.Counter("owonnx_rejected_requests_total", "Requests refused with 429 because every slot was busy and the queue full.", RejectedRequests);
        w.Counter("owonnx_prompt_tokens_total", "Prompt tokens prefilled.", PromptTokens);
        w.Counter("owonnx_prompt_tokens_cached_total", "Prompt tokens whose keys and values came from the prefix cache instead of being computed.", CachedPromptTokens);
        w.Counter("owonnx_generation_tokens_total", "Tokens generated.", CompletionTokens);
        w.Gauge("owonnx_queue_depth", "Requests waiting for a batch slot.", QueueDepth);
        w.Gauge("owonnx_active_sequences", "Sequences being decoded (occupied batch slots).", ActiveSequences);
        w.Gauge("owonnx_batch_slots", "Batch slots of the decoder (--max-batch).", Volatile.Read(ref _slots));
        w.Histogram(TimeToFirstToken);
        w.Histogram(TimePerOutputToken);
        w.Histogram(RequestDuration);
        return w.ToString();
    }

    private sealed class StrongBox
    {
        public long Value;
    }
}
