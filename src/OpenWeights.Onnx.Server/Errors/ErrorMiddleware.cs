using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OpenWeights.Onnx.Server.Errors;

/// <summary>
/// Turns every failure of a request into OpenAI's error object with its status, so that no input crashes the
/// process or reaches the client as a stack trace. A client that went away gets nothing (status 499 in metrics).
/// Empty-bodied statuses from routing (404, 405) get an error object too.
/// </summary>
public sealed class ErrorMiddleware(RequestDelegate next, ILogger<ErrorMiddleware> logger)
{
    /// <summary>nginx's "client closed request", used for metrics when the client disconnected.</summary>
    public const int ClientClosedRequest = 499;

    /// <summary>Set in HttpContext.Items when the client went away, for the metrics middleware outside this one.</summary>
    public const string ClientClosedItem = "owonnx.client_closed";

    public static bool ClientClosed(HttpContext http) =>
        http.RequestAborted.IsCancellationRequested || http.Items.ContainsKey(ClientClosedItem);

    public async Task InvokeAsync(HttpContext http)
    {
        try
        {
            await next(http);
            if (!http.Response.HasStarted && http.Response.StatusCode is 404 or 405 && http.Response.ContentLength is null)
            {
                await WriteAsync(http, http.Response.StatusCode == 404
                    ? OpenAiException.InvalidUrl(http.Request.Method, http.Request.Path)
                    : OpenAiException.MethodNotAllowed(http.Request.Method, http.Request.Path));
            }
        }
        catch (OpenAiException e)
        {
            await WriteOrAbortAsync(http, e);
        }
        catch (BadHttpRequestException e) when (!http.RequestAborted.IsCancellationRequested)
        {
            // Kestrel's own verdicts met while reading (malformed chunking, body too large, slow upload).
            await WriteOrAbortAsync(http, new OpenAiException(e.StatusCode, $"The request could not be read: {e.Message}",
                OpenAiException.InvalidRequest, null, e.StatusCode == 413 ? "request_too_large" : "invalid_request"));
        }
        catch (Exception e) when (e is ClientDisconnectedException
                                  || (http.RequestAborted.IsCancellationRequested
                                      && e is OperationCanceledException or IOException or ObjectDisposedException))
        {
            http.Items[ClientClosedItem] = true;
            if (!http.Response.HasStarted)
                http.Response.StatusCode = ClientClosedRequest;
        }
        catch (Exception e)
        {
            logger.LogError(e, "Unhandled error for {Method} {Path}", http.Request.Method, http.Request.Path);
            await WriteOrAbortAsync(http, OpenAiException.Internal());
        }
    }

    private static async Task WriteOrAbortAsync(HttpContext http, OpenAiException e)
    {
        if (http.Response.HasStarted)
        {
            // Headers are gone (a stream was running): all that is left is to end the connection.
            http.Abort();
            return;
        }
        try
        {
            await WriteAsync(http, e);
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client is gone; there is no one to tell.
        }
    }

    public static async Task WriteAsync(HttpContext http, OpenAiException e)
    {
        http.Response.Clear();
        http.Response.StatusCode = e.StatusCode;
        if (e.RetryAfterSeconds is { } seconds)
            http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (e.StatusCode == 401)
            http.Response.Headers.WWWAuthenticate = "Bearer";
        // The unread rest of an oversized body leaves the connection unusable: tell the client not to reuse it,
        // or its next request on this connection meets a closed socket.
        if (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            http.Response.Headers.Connection = "close";
        await http.Response.WriteAsJsonAsync(ErrorResponse.From(e), ServerJson.Options, http.RequestAborted);
    }
}
