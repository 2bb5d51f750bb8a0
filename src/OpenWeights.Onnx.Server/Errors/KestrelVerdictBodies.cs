using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;

namespace OpenWeights.Onnx.Server.Errors;

/// <summary>
/// Kestrel answers a request it cannot parse (a malformed request line or header, headers past its own limits)
/// itself, before any middleware runs, with an empty body, and closes the connection. OpenAI clients expect an
/// error object in every non-2xx answer, so this connection filter recognises such a verdict, the last bytes
/// Kestrel writes before closing, and gives it a body. Everything else passes through unchanged.
/// </summary>
/// <remarks>
/// A verdict is recognised by its shape only: a 4xx/5xx status line whose headers say <c>Content-Length: 0</c> and
/// <c>Connection: close</c>, with nothing after it before the connection ends. Output that merely ends with such
/// bytes is held back until the next write shows it was not the end; the endpoints' own errors always carry a body.
/// </remarks>
internal static class KestrelVerdictBodies
{
    /// <summary>Longest verdict looked for: Kestrel's are a status line and three short headers.</summary>
    private const int MaxVerdictBytes = 512;

    private static ReadOnlySpan<byte> HeaderEnd => "\r\n\r\n"u8;

    public static ConnectionDelegate Around(ConnectionDelegate next) => async connection =>
    {
        var transport = connection.Transport;
        var outgoing = new Pipe(new PipeOptions(useSynchronizationContext: false));
        connection.Transport = new Transport(transport.Input, outgoing.Writer);
        var pump = PumpAsync(outgoing.Reader, transport.Output);
        try
        {
            await next(connection);
        }
        finally
        {
            await outgoing.Writer.CompleteAsync();
            await pump;
            connection.Transport = transport;
        }
    };

    private sealed class Transport(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;
        public PipeWriter Output => output;
    }

    private static async Task PumpAsync(PipeReader from, PipeWriter to)
    {
        try
        {
            while (true)
            {
                var result = await from.ReadAsync();
                var buffer = result.Buffer;
                var verdict = TrailingVerdict(buffer);
                if (verdict is not null && !result.IsCompleted)
                {
                    // Kestrel's only if the connection ends here: look again after the next write or the close.
                    from.AdvanceTo(buffer.Start, buffer.End);
                    continue;
                }
                if (verdict is { } v)
                {
                    foreach (var segment in buffer.Slice(0, v.Start))
                        to.Write(segment.Span);
                    to.Write(WithBody(v.Status, v.Headers));
                }
                else
                {
                    foreach (var segment in buffer)
                        to.Write(segment.Span);
                }
                from.AdvanceTo(buffer.End);
                var flushed = await to.FlushAsync();
                if (result.IsCompleted || flushed.IsCompleted)
                    break;
            }
            await from.CompleteAsync();
        }
        catch (Exception e)
        {
            // The client went away mid-write: nothing to answer, and Kestrel sees the closed pipe.
            await from.CompleteAsync(e);
        }
    }

    private readonly record struct Verdict(long Start, int Status, List<string> Headers);

    /// <summary>The empty-bodied 4xx/5xx answer that <paramref name="buffer"/> ends with, if any.</summary>
    private static Verdict? TrailingVerdict(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < HeaderEnd.Length)
            return null;
        Span<byte> tail = stackalloc byte[(int)Math.Min(buffer.Length, MaxVerdictBytes)];
        buffer.Slice(buffer.Length - tail.Length).CopyTo(tail);
        if (!tail.EndsWith(HeaderEnd))
            return null;
        int start = tail.LastIndexOf("HTTP/1.1 "u8);
        if (start < 0)
            return null;
        string text = Encoding.ASCII.GetString(tail[start..^HeaderEnd.Length]);
        var lines = text.Split("\r\n");
        var status = lines[0].Split(' ', 3);
        if (status.Length < 2 || !int.TryParse(status[1], out int code) || code < 400 || code > 599)
            return null;
        var headers = lines.Skip(1).ToList();
        bool empty = headers.Any(h => h.Equals("Content-Length: 0", StringComparison.OrdinalIgnoreCase));
        bool closing = headers.Any(h => h.Equals("Connection: close", StringComparison.OrdinalIgnoreCase));
        if (!empty || !closing || headers.Any(h => h.StartsWith("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
            return null;
        return new Verdict(buffer.Length - tail.Length + start, code, headers);
    }

    private static byte[] WithBody(int status, List<string> headers)
    {
        var (message, code) = Describe(status);
        var error = new ErrorResponse(new ErrorDetail(message, OpenAiException.InvalidRequest, null, code));
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(error, ServerJson.Options);
        var head = new StringBuilder($"HTTP/1.1 {status} {ReasonPhrase(status)}\r\n");
        foreach (var header in headers.Where(h => !h.StartsWith("Content-Length", StringComparison.OrdinalIgnoreCase)))
            head.Append(header).Append("\r\n");
        head.Append("Content-Type: application/json\r\n").Append($"Content-Length: {body.Length}\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(head.ToString()), .. body];
    }

    private static (string Message, string Code) Describe(int status) => status switch
    {
        400 => ("The request is not valid HTTP/1.1 (a malformed request line or header).", "malformed_http"),
        408 => ("The request was not received in time.", "request_timeout"),
        413 => ("The request body is larger than the server accepts.", "request_too_large"),
        414 => ($"The request line is longer than {RequestLimitsMiddleware.KestrelLineLimit} bytes.", "url_too_long"),
        431 => ($"The request headers are larger than {RequestLimitsMiddleware.KestrelHeaderLimit} bytes or more than " +
                $"{RequestLimitsMiddleware.KestrelHeaderCountLimit} headers.", "headers_too_large"),
        505 => ("Only HTTP/1.0 and HTTP/1.1 are served.", "http_version_not_supported"),
        _ => ($"The HTTP server refused the request ({status} {ReasonPhrase(status)}).", "http_error"),
    };

    private static string ReasonPhrase(int status) =>
        Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? phrase : "Error";
}
