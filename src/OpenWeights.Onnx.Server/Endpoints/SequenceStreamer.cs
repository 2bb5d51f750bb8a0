using Microsoft.AspNetCore.Http;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Server.Scheduling;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>
/// Pumps a request's scheduled sequences (one per choice) into server-sent events: what OpenAI's chat and text
/// streams share. Each endpoint says how a token and a choice's end look in its own chunk type, and what follows
/// the last choice's end (the usage chunk); chunks that are ready together are flushed together, and a cancelled
/// sequence (its client is gone) ends the stream silently.
/// </summary>
internal static class SequenceStreamer
{
    public static async Task PumpAsync(HttpContext http, SseWriter sse, IReadOnlyList<SequenceHandle> handles, bool wantsTokenIds,
        Action<int, TokenGenerated> writeToken, Action<int, SequenceFinished> writeFinish, Action<IReadOnlyList<SequenceFinished>> writeEnd)
    {
        var finished = new SequenceFinished?[handles.Count];
        int open = handles.Count;
        while (open > 0)
        {
            bool read = false;
            for (int i = 0; i < handles.Count; i++)
            {
                if (finished[i] is not null)
                    continue;
                while (handles[i].Events.TryRead(out var e))
                {
                    read = true;
                    switch (e)
                    {
                        case TokenGenerated t when t.Text.Length > 0 || (wantsTokenIds && t.TokenId >= 0):
                            writeToken(i, t);
                            break;
                        case SequenceFinished { Reason: FinishReason.Cancelled }:
                            return;
                        case SequenceFinished f:
                            writeFinish(i, f);
                            finished[i] = f;
                            open--;
                            break;
                        case SequenceFailed f:
                            sse.WriteError(SequenceCollector.ToException(f));
                            await sse.FlushAsync();
                            return;
                    }
                    if (finished[i] is not null)
                        break;
                }
            }
            if (open == 0)
                break;
            if (read)
            {
                await sse.FlushAsync();
                continue;
            }
            await WaitForAnyAsync(handles, finished, http.RequestAborted);
        }
        writeEnd(finished!);
        sse.WriteDone();
        await sse.FlushAsync();
    }

    /// <summary>Waits until an unfinished choice has an event (a lone choice waits without allocating a task per token).</summary>
    private static async Task WaitForAnyAsync(IReadOnlyList<SequenceHandle> handles, SequenceFinished?[] finished, CancellationToken cancellation)
    {
        if (handles.Count == 1)
        {
            if (!await handles[0].Events.WaitToReadAsync(cancellation))
                throw new InvalidOperationException("a sequence's event stream ended without a finish.");
            return;
        }
        var waits = new List<Task<bool>>(handles.Count);
        for (int i = 0; i < handles.Count; i++)
            if (finished[i] is null)
                waits.Add(handles[i].Events.WaitToReadAsync(cancellation).AsTask());
        var first = await Task.WhenAny(waits);
        if (!await first)
            throw new InvalidOperationException("a sequence's event stream ended without a finish.");
    }
}
