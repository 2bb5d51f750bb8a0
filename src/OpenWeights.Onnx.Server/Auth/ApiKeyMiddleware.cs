using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Auth;

/// <summary>
/// Requires <c>Authorization: Bearer KEY</c> on the API (<c>/v1/…</c>) when the server has a key; /health and /metrics
/// stay open for probes and scrapers. Keys are compared as SHA-256 digests in constant time, so neither the key's
/// content nor its length leaks through timing.
/// </summary>
public sealed class ApiKeyMiddleware(RequestDelegate next, ServerOptions options)
{
    private readonly byte[]? _expected = options.ApiKey is { Length: > 0 } key ? Digest(key) : null;

    public Task InvokeAsync(HttpContext http)
    {
        if (_expected is null || !http.Request.Path.StartsWithSegments("/v1"))
            return next(http);
        string? header = http.Request.Headers.Authorization;
        const string scheme = "Bearer ";
        if (string.IsNullOrEmpty(header) || !header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            throw OpenAiException.MissingApiKey();
        if (!CryptographicOperations.FixedTimeEquals(Digest(header[scheme.Length..].Trim()), _expected))
            throw OpenAiException.WrongApiKey();
        return next(http);
    }

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
