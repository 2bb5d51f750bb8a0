using System.Text.Json;

namespace OpenWeights.Onnx.Generation.Tools;

/// <summary>
/// Reads a model's answer as it is generated and separates text from tool calls in one <see cref="ToolCallFormat"/>.
/// Only calls of declared functions with a JSON object for arguments become calls: anything else that looked like
/// one (an unknown name, arguments that do not parse, a malformed block) stays in the text, as the model wrote it,
/// so a client never receives a call it did not declare or cannot parse.
/// <para>
/// Text that may begin a call is held back until it is known. A call is released when it is complete and valid;
/// with <c>streamArguments</c> (the output is constrained, so its arguments are sure to parse) it starts as soon as
/// the name is known and its arguments follow as they are written, as OpenAI streams them.
/// </para>
/// </summary>
public sealed class ToolCallReader
{
    private enum State { Content, ListOpen, Name, ObjectStart, Object, ObjectClose, AfterObject }

    private readonly ToolCallFormat _format;
    private readonly HashSet<string> _functions;
    private readonly bool _streamArguments;
    private readonly int _maxCalls;
    private readonly List<PartialJsonMember> _members = [];
    private char[] _text = new char[256];
    private int _length;
    private int _pos;               // everything before is consumed
    private State _state;
    private int _objectRegionStart;  // where the current call's text began (its marker or separator)
    private int _objectStart;        // its '{'
    private bool _sawText;           // non-space text came before (a bare object is a call only at the start)
    private int _calls;
    private bool _started;           // the current call's start was released (streaming its arguments)
    private int _argumentsSent;      // end of the arguments text released so far
    private string? _name;           // the current call's name, in a format that writes it bare (name[ARGS]{…})

    /// <param name="maxCalls">Calls beyond this many are dropped (1 for OpenAI's <c>parallel_tool_calls: false</c>).</param>
    public ToolCallReader(ToolCallFormat format, IEnumerable<ToolDefinition> tools, bool streamArguments = false, int maxCalls = int.MaxValue)
    {
        _format = format;
        _functions = tools.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        _streamArguments = streamArguments;
        _maxCalls = maxCalls;
    }

    /// <summary>Calls released so far.</summary>
    public int CallCount => _calls;

    /// <summary>Adds generated text; what it completes is appended to <paramref name="events"/>.</summary>
    public void Push(ReadOnlySpan<char> text, List<ToolCallEvent> events)
    {
        if (text.IsEmpty)
            return;
        if (_length + text.Length > _text.Length)
            Array.Resize(ref _text, Math.Max(_text.Length * 2, _length + text.Length));
        text.CopyTo(_text.AsSpan(_length));
        _length += text.Length;
        while (Step(events, final: false)) { }
    }

    /// <summary>The answer is complete: releases what was held back (an unfinished call becomes text).</summary>
    public void Finish(List<ToolCallEvent> events)
    {
        while (Step(events, final: true)) { }
        var rest = _text.AsSpan(_pos, _length - _pos);
        if (_state == State.ObjectClose && IsSpaceOrPrefixOf(rest, _format.ObjectClose))
        {
            // The answer ended where the closing tag would come (an end-of-turn token instead of it).
            CompleteObject(events, _pos);
            return;
        }
        if (_state == State.AfterObject && IsSpaceOrPrefixOf(rest, _format.Separator))
            return;
        if (_state is State.Content or State.AfterObject)
        {
            if (_calls == 0 || !rest.IsWhiteSpace())
                Emit(events, _pos, _length);
            return;
        }
        // Inside a call: one already started stays as it is (cut off by max_tokens); any other is text.
        if (!_started)
            Emit(events, _objectRegionStart, _length);
    }

    /// <summary>Parses a whole answer: its text (null when only calls and spaces) and its calls.</summary>
    public static (string? Content, IReadOnlyList<ToolCall> Calls) Parse(ToolCallFormat format, IEnumerable<ToolDefinition> tools, string text)
    {
        var reader = new ToolCallReader(format, tools);
        var events = new List<ToolCallEvent>();
        reader.Push(text, events);
        reader.Finish(events);
        return Collect(events);
    }

    /// <summary>Joins events into the message they describe.</summary>
    public static (string? Content, IReadOnlyList<ToolCall> Calls) Collect(IEnumerable<ToolCallEvent> events)
    {
        var content = new System.Text.StringBuilder();
        var calls = new List<(string Id, string Name, System.Text.StringBuilder Arguments)>();
        foreach (var e in events)
        {
            switch (e)
            {
                case ContentText t:
                    content.Append(t.Text);
                    break;
                case CallStarted s:
                    calls.Add((s.Id, s.Name, new System.Text.StringBuilder()));
                    break;
                case CallArguments a:
                    calls[a.Index].Arguments.Append(a.Fragment);
                    break;
            }
        }
        string? text = calls.Count > 0 && string.IsNullOrWhiteSpace(content.ToString()) ? null : content.ToString();
        return (text, calls.Select(c => new ToolCall(c.Id, c.Name, c.Arguments.ToString())).ToList());
    }

    /// <summary>One move of the state machine; false when it needs more text.</summary>
    private bool Step(List<ToolCallEvent> events, bool final)
    {
        var text = _text.AsSpan(0, _length);
        switch (_state)
        {
            case State.Content:
                return StepContent(events, text, final);
            case State.ListOpen:
            {
                int i = PartialJsonObject.SkipSpace(text, _pos);
                if (_format.ListOpen.Length == 0)
                {
                    _state = _format.ArgsMarker.Length > 0 ? State.Name : State.ObjectStart;
                    return true;
                }
                if (!Expect(text, i, _format.ListOpen, out bool more))
                    return !more && Malformed(events, i);
                _pos = i + _format.ListOpen.Length;
                _state = State.ObjectStart;
                return true;
            }
            case State.Name:
            {
                // name[ARGS]: the name is letters, digits, '_' and '-' (as OpenAI allows), then the marker.
                int i = _pos;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '_' or '-'))
                    i++;
                if (!Expect(text, i, _format.ArgsMarker, out bool more))
                    return !more && i < text.Length ? Malformed(events, i) : false;
                _name = new string(text[_pos..i]);
                _pos = i + _format.ArgsMarker.Length;
                _state = State.ObjectStart;
                return true;
            }
            case State.ObjectStart:
            {
                int i = PartialJsonObject.SkipSpace(text, _pos);
                if (i >= text.Length)
                    return false;
                if (text[i] != '{')
                    return Malformed(events, i);
                _objectStart = i;
                _started = false;
                _state = State.Object;
                return true;
            }
            case State.Object:
            {
                var state = PartialJsonObject.Scan(text, _objectStart, _members, out int end);
                if (state == PartialJsonState.Malformed)
                    return Malformed(events, _objectStart);
                if (state == PartialJsonState.Incomplete)
                {
                    if (_streamArguments)
                        StreamArguments(events, text);
                    return false;
                }
                _pos = end;
                _state = State.ObjectClose;
                return true;
            }
            case State.ObjectClose:
            {
                if (_format.ObjectClose.Length == 0)
                {
                    CompleteObject(events, _pos);
                    return true;
                }
                int i = PartialJsonObject.SkipSpace(text, _pos);
                if (!Expect(text, i, _format.ObjectClose, out bool more))
                    return !more && Malformed(events, i);
                CompleteObject(events, i + _format.ObjectClose.Length);
                return true;
            }
            case State.AfterObject:
            {
                int i = PartialJsonObject.SkipSpace(text, _pos);
                if (i >= text.Length)
                    return false;
                if (Expect(text, i, _format.Separator, out bool moreSeparator))
                {
                    _objectRegionStart = i;
                    _pos = i + _format.Separator.Length;
                    _state = _format.ArgsMarker.Length > 0 ? State.Name : State.ObjectStart;
                    return true;
                }
                bool moreClose = false;
                if (_format.ListClose.Length > 0 && Expect(text, i, _format.ListClose, out moreClose))
                {
                    _pos = i + _format.ListClose.Length;
                    _state = State.Content;
                    return true;
                }
                if (moreSeparator || moreClose)
                    return false;
                // Other text after the calls is text of the answer.
                _pos = i;
                _state = State.Content;
                return true;
            }
        }
        return false;
    }

    private bool StepContent(List<ToolCallEvent> events, ReadOnlySpan<char> text, bool final)
    {
        if (_format.BareObjectAtStart && !_sawText)
        {
            int first = PartialJsonObject.SkipSpace(text, _pos);
            if (first >= text.Length)
                return false;
            _sawText = true;
            if (text[first] == '{')
            {
                _objectRegionStart = _pos;
                _pos = first;
                _state = State.ObjectStart;
                return true;
            }
        }
        var rest = text[_pos..];
        int marker = rest.IndexOf(_format.Marker.AsSpan(), StringComparison.Ordinal);
        if (marker >= 0)
        {
            int start = _pos + marker;
            // Spaces between the text and the calls belong to neither.
            Emit(events, _pos, TrimEnd(text, _pos, start));
            _sawText = true;
            _objectRegionStart = start;
            _pos = start + _format.Marker.Length;
            _state = State.ListOpen;
            return true;
        }
        if (final)
            return false;
        // Hold back what may be the marker's beginning, and trailing spaces (they go if calls follow).
        int safe = text.Length - PartialMarkerLength(rest, _format.Marker);
        safe = TrimEnd(text, _pos, safe);
        if (safe > _pos)
        {
            if (!text[_pos..safe].IsWhiteSpace())
                _sawText = true;
            Emit(events, _pos, safe);
            _pos = safe;
        }
        return false;
    }

    private void StreamArguments(List<ToolCallEvent> events, ReadOnlySpan<char> text)
    {
        if (_format.ArgsMarker.Length > 0)
        {
            // The arguments are the object itself.
            if (!_started)
            {
                if (_calls >= _maxCalls || _name is null || !_functions.Contains(_name))
                    return;
                events.Add(new CallStarted(_calls, ToolCallIds.New(), _name));
                _started = true;
                _argumentsSent = _objectStart;
            }
            int upTo = _state == State.Object ? text.Length : _pos;
            if (upTo > _argumentsSent)
            {
                events.Add(new CallArguments(_calls, new string(text[_argumentsSent..upTo])));
                _argumentsSent = upTo;
            }
            return;
        }
        if (!_started)
        {
            if (_calls >= _maxCalls)
                return;
            if (Name(text) is not { } name || !_functions.Contains(name) || ArgumentsMember() is not { } args || text[args.Start] != '{')
                return;
            events.Add(new CallStarted(_calls, ToolCallIds.New(), name));
            _started = true;
            _argumentsSent = args.Start;
        }
        if (ArgumentsMember() is { } member)
        {
            int end = member.End >= 0 ? member.End : text.Length;
            if (end > _argumentsSent)
            {
                events.Add(new CallArguments(_calls, new string(text[_argumentsSent..end])));
                _argumentsSent = end;
            }
        }
    }

    /// <summary>The call's object (and its closing tag) is complete: a valid call is released, anything else is text.</summary>
    private void CompleteObject(List<ToolCallEvent> events, int end)
    {
        var text = _text.AsSpan(0, _length);
        PartialJsonObject.Scan(text, _objectStart, _members, out _);
        if (_started)
        {
            StreamArguments(events, text);
            _calls++;
        }
        else if (CallName(text) is { } name && _functions.Contains(name) && CallArguments(text) is { } arguments)
        {
            if (_calls < _maxCalls)
            {
                events.Add(new CallStarted(_calls, ToolCallIds.New(), name));
                events.Add(new CallArguments(_calls, arguments));
                _calls++;
            }
        }
        else
            Emit(events, _objectRegionStart, end);
        _started = false;
        _pos = end;
        _state = State.AfterObject;
    }

    private string? CallName(ReadOnlySpan<char> text) => _format.ArgsMarker.Length > 0 ? _name : Name(text);

    /// <summary>The arguments: in a bare-name format the whole object (it parses: its scan completed), else the member's.</summary>
    private string? CallArguments(ReadOnlySpan<char> text) =>
        _format.ArgsMarker.Length > 0
            ? (Decode(text[_objectStart.._pos]) is { ValueKind: JsonValueKind.Object } ? new string(text[_objectStart.._pos]) : null)
            : Arguments(text);

    private string? Name(ReadOnlySpan<char> text)
    {
        foreach (var m in _members)
            if (m.Key == "name" && m.End >= 0)
                return Decode(text[m.Start..m.End]) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;
        return null;
    }

    private PartialJsonMember? ArgumentsMember()
    {
        foreach (string key in _format.ArgumentKeys)
            foreach (var m in _members)
                if (m.Key == key)
                    return m;
        return null;
    }

    /// <summary>The arguments as JSON object text: as written, from a string holding an object, or "{}" when absent.</summary>
    private string? Arguments(ReadOnlySpan<char> text)
    {
        if (ArgumentsMember() is not { } m)
            return "{}";
        if (m.End < 0)
            return null;
        var raw = text[m.Start..m.End];
        switch (Decode(raw))
        {
            case { ValueKind: JsonValueKind.Object }:
                return raw.ToString();
            case { ValueKind: JsonValueKind.String } s when Decode(s.GetString()!) is { ValueKind: JsonValueKind.Object }:
                return s.GetString();
            default:
                return null;
        }
    }

    private static JsonElement? Decode(ReadOnlySpan<char> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToString());
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Not a call after all: its text so far is text of the answer, and reading goes on after it.</summary>
    private bool Malformed(List<ToolCallEvent> events, int at)
    {
        int end = Math.Max(at + 1, _pos);
        end = Math.Min(end, _length);
        Emit(events, _objectRegionStart, end);
        _pos = end;
        _started = false;
        _state = State.Content;
        return true;
    }

    private void Emit(List<ToolCallEvent> events, int from, int to)
    {
        if (to > from)
            events.Add(new ContentText(new string(_text, from, to - from)));
    }

    /// <summary>Whether <paramref name="expected"/> is at <paramref name="i"/>; <paramref name="more"/>: the text ends in a prefix of it.</summary>
    private static bool Expect(ReadOnlySpan<char> text, int i, string expected, out bool more)
    {
        more = false;
        if (expected.Length == 0)
            return false;
        var rest = text[i..];
        if (rest.StartsWith(expected, StringComparison.Ordinal))
            return true;
        more = expected.AsSpan().StartsWith(rest, StringComparison.Ordinal);
        return false;
    }

    private static bool IsSpaceOrPrefixOf(ReadOnlySpan<char> rest, string expected)
    {
        var trimmed = rest.TrimStart();
        return trimmed.IsEmpty || (expected.Length > 0 && expected.AsSpan().StartsWith(trimmed, StringComparison.Ordinal));
    }

    /// <summary>Length of the longest end of <paramref name="text"/> that begins <paramref name="marker"/>.</summary>
    private static int PartialMarkerLength(ReadOnlySpan<char> text, string marker)
    {
        for (int n = Math.Min(marker.Length - 1, text.Length); n > 0; n--)
            if (text[^n..].SequenceEqual(marker.AsSpan(0, n)))
                return n;
        return 0;
    }

    private static int TrimEnd(ReadOnlySpan<char> text, int from, int to)
    {
        while (to > from && char.IsWhiteSpace(text[to - 1]))
            to--;
        return to;
    }
}
