using Microsoft.AspNetCore.Http;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Server.Scheduling;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>
/// Pumps a scheduled sequence's events into server-sent events: what OpenAI's chat and text streams share.
/// Each endpoint says how a token and the end look in its own chunk type; chunks that are ready together are
/// flushed together, and a cancelled sequence (its client is gone) ends the stream silently.
/// </summary>
internal static class SequenceStreamer
{
    public static async Task PumpAsync(HttpContext http, SseWriter sse, SequenceHandle handle, bool wantsTokenIds,
        Action<TokenGenerated> writeToken, Action<SequenceFinished> writeFinish)
    {
        var events = handle.Events;
        while (await events.WaitToReadAsync(http.RequestAborted))
        {
            while (events.TryRead(out var e))
            {
                switch (e)
                {
                    case TokenGenerated t when t.Text.Length > 0 || (wantsTokenIds && t.TokenId >= 0):
                        writeToken(t);
                        break;
                    case SequenceFinished { Reason: FinishReason.Cancelled }:
                        return;
                    case SequenceFinished f:
                        writeFinish(f);
                        sse.WriteDone();
                        await sse.FlushAsync();
                        return;
                    case SequenceFailed f:
                        sse.WriteError(SequenceCollector.ToException(f));
                        await sse.FlushAsync();
                        return;
                }
            }
            await sse.FlushAsync();
        }
    }
}
