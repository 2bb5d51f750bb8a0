using Microsoft.AspNetCore.Http;

namespace OpenWeights.Onnx.Server.Errors;

/// <summary>
/// The request line and header limits, enforced here rather than by Kestrel: Kestrel answers its own 414/431 with an
/// empty body, before any middleware runs. Kestrel's limits are raised far above these (<see cref="OpenAiServer"/>)
/// so that an oversized request reaches this check and gets OpenAI's error object like every other failure, with the
/// limit named. Requests past even Kestrel's limits get a body from <see cref="KestrelVerdictBodies"/>.
/// </summary>
public sealed class RequestLimitsMiddleware(RequestDelegate next)
{
    public const int MaxTargetBytes = 8 * 1024;
    public const int MaxHeaderBytes = 32 * 1024;
    public const int MaxHeaderCount = 100;

    /// <summary>What Kestrel itself allows, so that only truly absurd requests meet its empty-bodied answers.</summary>
    public const int KestrelLineLimit = 64 * 1024;
    public const int KestrelHeaderLimit = 1024 * 1024;
    public const int KestrelHeaderCountLimit = 10_000;

    public Task InvokeAsync(HttpContext http)
    {
        long target = http.Request.Path.Value?.Length ?? 0;
        target += http.Request.QueryString.Value?.Length ?? 0;
        if (target > MaxTargetBytes)
            throw new OpenAiException(414, $"The request URL is longer than {MaxTargetBytes} bytes.", OpenAiException.InvalidRequest, null, "url_too_long");
        if (http.Request.Headers.Count > MaxHeaderCount)
            throw new OpenAiException(431, $"The request has {http.Request.Headers.Count} headers; at most {MaxHeaderCount} are accepted.",
                OpenAiException.InvalidRequest, null, "headers_too_large");
        long size = 0;
        foreach (var (name, values) in http.Request.Headers)
        {
            size += name.Length + 4;
            foreach (string? value in values)
                size += value?.Length ?? 0;
        }
        if (size > MaxHeaderBytes)
            throw new OpenAiException(431, $"The request headers total {size} bytes; at most {MaxHeaderBytes} are accepted.",
                OpenAiException.InvalidRequest, null, "headers_too_large");
        return next(http);
    }
}
