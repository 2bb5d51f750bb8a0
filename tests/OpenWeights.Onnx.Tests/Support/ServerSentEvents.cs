using System.Text.Json;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>Reads an OpenAI-style SSE stream: each <c>data: …</c> event, up to and including <c>[DONE]</c>.</summary>
public static class ServerSentEvents
{
    public const string Done = "[DONE]";

    /// <summary>The data of every event, in order (the last is "[DONE]" when the stream completed).</summary>
    public static async Task<List<string>> ReadAllAsync(HttpResponseMessage response, CancellationToken cancellationToken = default)
    {
        var events = new List<string>();
        await foreach (var data in ReadAsync(response, cancellationToken))
            events.Add(data);
        return events;
    }

    public static async IAsyncEnumerable<string> ReadAsync(HttpResponseMessage response,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var reader = new StreamReader(stream);
        string? line;
        while ((line = await reader.ReadLineAsync(cancellationToken)) is not null)
        {
            if (line.Length == 0)
                continue;
            StringAssert.StartsWith(line, "data: ", $"every SSE line is a data line: {line}");
            string data = line["data: ".Length..];
            yield return data;
            if (data == Done)
                yield break;
        }
    }

    public static JsonElement Json(string data) => JsonDocument.Parse(data).RootElement.Clone();

    /// <summary>The text of a chat stream: the concatenated delta contents.</summary>
    public static string ChatText(IEnumerable<string> events) => string.Concat(events.Where(e => e != Done).Select(Json)
        .SelectMany(c => c.GetProperty("choices").EnumerateArray())
        .Select(c => c.GetProperty("delta").TryGetProperty("content", out var content) ? content.GetString() : ""));

    /// <summary>The text of a completions stream: the concatenated choice texts.</summary>
    public static string CompletionText(IEnumerable<string> events) => string.Concat(events.Where(e => e != Done).Select(Json)
        .SelectMany(c => c.GetProperty("choices").EnumerateArray())
        .Select(c => c.GetProperty("text").GetString()));
}
