using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenWeights.Onnx.Server.Metrics;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>GET /metrics in Prometheus' text format.</summary>
internal static class MetricsEndpoint
{
    public static Task HandleAsync(HttpContext http)
    {
        var metrics = http.RequestServices.GetRequiredService<ServerMetrics>();
        http.Response.ContentType = PrometheusTextWriter.ContentType;
        http.Response.Headers.CacheControl = "no-store";
        return http.Response.WriteAsync(metrics.ToPrometheusText(), http.RequestAborted);
    }
}
