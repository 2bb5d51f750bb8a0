using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>
/// Server-sent events as OpenAI streams them: <c>data: {json}\n\n</c> per chunk and <c>data: [DONE]\n\n</c> at the end.
/// Writes go to the response's pipe; <see cref="FlushAsync"/> sends them, so chunks already available go out together.
/// </summary>
internal sealed class SseWriter(HttpResponse response, CancellationToken cancellationToken)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public async Task StartAsync()
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(cancellationToken);
        // Send the headers now: a request waiting in the queue is accepted, and its client should know.
        await FlushAsync();
    }

    public void Write<T>(T payload)
    {
        var pipe = response.BodyWriter;
        pipe.Write(DataPrefix);
        using (var json = new Utf8JsonWriter(pipe))
            JsonSerializer.Serialize(json, payload, ServerJson.Options);
        pipe.Write(EventEnd);
    }

    /// <summary>An error after the stream began, as OpenAI sends it: an event holding the error object.</summary>
    public void WriteError(OpenAiException e) => Write(ErrorResponse.From(e));

    public void WriteDone() => response.BodyWriter.Write(Done);

    public async Task FlushAsync()
    {
        var result = await response.BodyWriter.FlushAsync(cancellationToken);
        if (result.IsCanceled || result.IsCompleted)
            throw new ClientDisconnectedException();
    }
}
