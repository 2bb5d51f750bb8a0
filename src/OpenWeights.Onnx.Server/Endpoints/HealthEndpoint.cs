using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenWeights.Onnx.Server.Hosting;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>
/// GET /health: 200 <c>{"status": "ok"}</c> once the model is loaded; 503 with "loading", "failed" (and the error) or
/// "shutting_down" otherwise, so a load balancer sends traffic only to a ready server.
/// </summary>
internal static class HealthEndpoint
{
    public sealed record Health(string Status, string? Model = null, string? Error = null);

    public static Task HandleAsync(HttpContext http)
    {
        var host = http.RequestServices.GetRequiredService<ModelHost>();
        var health = host.State switch
        {
            ModelState.Ready => new Health("ok", host.Model?.Id),
            ModelState.Loading => new Health("loading"),
            ModelState.Failed => new Health("failed", Error: host.LoadError),
            _ => new Health("shutting_down"),
        };
        http.Response.StatusCode = health.Status == "ok" ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        http.Response.Headers.CacheControl = "no-store";
        return http.Response.WriteAsJsonAsync(health, ServerJson.Options, http.RequestAborted);
    }
}
