using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OpenWeights.Onnx.Server.Metrics;

/// <summary>
/// One Information line per request — method, path, final status, tokens, milliseconds — the access log an
/// operator reads with <c>journalctl -u owonnx</c>. Endpoints that generate record their token counts here.
/// </summary>
public sealed class RequestLog
{
    private static readonly object TokensKey = new();

    /// <summary>The log category; the server's console logger lets it through at Information.</summary>
    public const string Category = "OpenWeights.Onnx.Server.RequestLog";

    public static void RecordTokens(HttpContext http, int promptTokens, int completionTokens) =>
        http.Items[TokensKey] = (promptTokens, completionTokens);

    public static void Write(ILogger logger, HttpContext http, int status, TimeSpan elapsed)
    {
        if (!logger.IsEnabled(LogLevel.Information))
            return;
        double ms = Math.Round(elapsed.TotalMilliseconds, 1);
        if (http.Items.TryGetValue(TokensKey, out var value) && value is (int prompt, int completion))
            logger.LogInformation("{Method} {Path} {Status} tokens {PromptTokens}+{CompletionTokens} {Milliseconds} ms",
                http.Request.Method, http.Request.Path.Value, status, prompt, completion, ms);
        else
            logger.LogInformation("{Method} {Path} {Status} tokens - {Milliseconds} ms",
                http.Request.Method, http.Request.Path.Value, status, ms);
    }
}
