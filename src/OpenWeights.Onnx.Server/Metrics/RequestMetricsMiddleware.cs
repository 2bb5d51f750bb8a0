using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Metrics;

/// <summary>
/// Counts every request by endpoint and final status, times it and writes its <see cref="RequestLog"/> line.
/// Outermost, so errors are counted and logged too.
/// </summary>
public sealed class RequestMetricsMiddleware(RequestDelegate next, ServerMetrics metrics, ILoggerFactory loggers)
{
    private static readonly string[] KnownEndpoints =
        ["/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"];

    private readonly ILogger _log = loggers.CreateLogger(RequestLog.Category);

    public async Task InvokeAsync(HttpContext http)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            await next(http);
        }
        finally
        {
            int status = ErrorMiddleware.ClientClosed(http)
                ? ErrorMiddleware.ClientClosedRequest
                : http.Response.StatusCode;
            metrics.CountRequest(EndpointOf(http.Request.Path), status);
            var elapsed = Stopwatch.GetElapsedTime(start);
            metrics.RequestDuration.Observe(elapsed.TotalSeconds);
            RequestLog.Write(_log, http, status, elapsed);
        }
    }

    /// <summary>A bounded label set: unknown paths are "other", so clients cannot grow the metrics without bound.</summary>
    private static string EndpointOf(PathString path)
    {
        foreach (var known in KnownEndpoints)
            if (path.Equals(known, StringComparison.OrdinalIgnoreCase))
                return known;
        if (path.StartsWithSegments("/v1/models"))
            return "/v1/models/{id}";
        return "other";
    }
}
