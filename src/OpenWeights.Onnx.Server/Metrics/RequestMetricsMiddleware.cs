using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Metrics;

/// <summary>Counts every request by endpoint and final status, and times it. Outermost, so errors are counted too.</summary>
public sealed class RequestMetricsMiddleware(RequestDelegate next, ServerMetrics metrics)
{
    private static readonly string[] KnownEndpoints =
        ["/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"];

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
            metrics.RequestDuration.Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
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
