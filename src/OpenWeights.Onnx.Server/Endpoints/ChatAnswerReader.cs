using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Server.Requests;
using OpenWeights.Onnx.Server.Scheduling;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>
/// A chat sequence's tokens as the parts of the answer: its text and, when tools were offered, its tool calls
/// (read by a <see cref="ToolCallReader"/>). Streamed and whole answers go through the same reader, so they agree.
/// </summary>
internal sealed class ChatAnswerReader
{
    private readonly ToolCallReader? _reader;
    private readonly string? _marker;
    private readonly int? _markerId;
    private readonly string? _argsMarker;
    private readonly int? _argsId;
    private readonly List<ToolCallEvent> _events = [];

    /// <param name="streamArguments">The output is constrained to calls: arguments are released as they are written.</param>
    /// <param name="argsTokenId">The id of the format's <see cref="ToolCallFormat.ArgsMarker"/> when it is a special token.</param>
    public ChatAnswerReader(ToolCallFormat? format, ToolRequest tools, int? markerTokenId, bool streamArguments, int? argsTokenId = null)
    {
        if (format is null || !tools.Active)
            return;
        _reader = new ToolCallReader(format, tools.Tools, streamArguments, tools.ParallelCalls ? int.MaxValue : 1);
        _marker = format.Marker;
        _markerId = markerTokenId;
        _argsMarker = format.ArgsMarker;
        _argsId = argsTokenId;
    }

    /// <summary>Calls read so far.</summary>
    public int CallCount => _reader?.CallCount ?? 0;

    /// <summary>What the token adds to the answer (valid until the next call).</summary>
    public IReadOnlyList<ToolCallEvent> Push(TokenGenerated token)
    {
        _events.Clear();
        if (_reader is null)
        {
            if (token.Text.Length > 0)
                _events.Add(new ContentText(token.Text));
            return _events;
        }
        // Special tokens are left out of the decoded text: the format's markers are put back for the reader.
        if (token.TokenId >= 0 && token.TokenId == _markerId)
            _reader.Push(_marker, _events);
        else if (token.TokenId >= 0 && token.TokenId == _argsId)
            _reader.Push(_argsMarker, _events);
        _reader.Push(token.Text, _events);
        return _events;
    }

    /// <summary>What was held back, at the end of the answer (valid until the next call).</summary>
    public IReadOnlyList<ToolCallEvent> Finish()
    {
        _events.Clear();
        _reader?.Finish(_events);
        return _events;
    }

    /// <summary>OpenAI's finish reason: "tool_calls" when the answer ended after calls.</summary>
    public string? FinishReason(FinishReason reason) =>
        reason == Generation.FinishReason.Stop && CallCount > 0 ? "tool_calls" : Responses.ResponseIds.FinishReason(reason);
}
