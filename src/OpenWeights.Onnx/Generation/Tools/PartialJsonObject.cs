namespace OpenWeights.Onnx.Generation.Tools;

/// <summary>How far a JSON object read from generated text has come.</summary>
internal enum PartialJsonState
{
    /// <summary>The text ends inside the object: more may complete it.</summary>
    Incomplete,
    Complete,
    /// <summary>The text cannot be the start of a JSON object.</summary>
    Malformed,
}

/// <summary>A member of a partly read object: its key and where its raw value text lies (End -1 while it goes on).</summary>
internal readonly record struct PartialJsonMember(string Key, int Start, int End);

/// <summary>
/// Reads the top level of a JSON object that a model is still writing: which members are there, where each value's
/// text starts and (when complete) ends. It finds boundaries only; values are parsed as JSON once complete. This is
/// what lets a tool call's name be known, and its arguments streamed, before the call is finished.
/// </summary>
internal static class PartialJsonObject
{
    /// <summary>Scans the object that starts at <paramref name="start"/> (a '{'); <paramref name="end"/> is just past it when complete.</summary>
    public static PartialJsonState Scan(ReadOnlySpan<char> text, int start, List<PartialJsonMember> members, out int end)
    {
        members.Clear();
        end = -1;
        if (start >= text.Length || text[start] != '{')
            return PartialJsonState.Malformed;
        int i = SkipSpace(text, start + 1);
        if (i >= text.Length)
            return PartialJsonState.Incomplete;
        if (text[i] == '}')
        {
            end = i + 1;
            return PartialJsonState.Complete;
        }
        while (true)
        {
            if (i >= text.Length)
                return PartialJsonState.Incomplete;
            if (text[i] != '"')
                return PartialJsonState.Malformed;
            int keyEnd = StringEnd(text, i);
            if (keyEnd < 0)
                return PartialJsonState.Incomplete;
            string? key = DecodeString(text[i..keyEnd]);
            if (key is null)
                return PartialJsonState.Malformed;
            i = SkipSpace(text, keyEnd);
            if (i >= text.Length)
                return PartialJsonState.Incomplete;
            if (text[i] != ':')
                return PartialJsonState.Malformed;
            i = SkipSpace(text, i + 1);
            if (i >= text.Length)
                return PartialJsonState.Incomplete;
            int valueEnd = ValueEnd(text, i);
            if (valueEnd == Bad)
                return PartialJsonState.Malformed;
            members.Add(new PartialJsonMember(key, i, valueEnd));
            if (valueEnd < 0)
                return PartialJsonState.Incomplete;
            i = SkipSpace(text, valueEnd);
            if (i >= text.Length)
                return PartialJsonState.Incomplete;
            if (text[i] == '}')
            {
                end = i + 1;
                return PartialJsonState.Complete;
            }
            if (text[i] != ',')
                return PartialJsonState.Malformed;
            i = SkipSpace(text, i + 1);
        }
    }

    private const int Bad = -2;

    public static int SkipSpace(ReadOnlySpan<char> text, int i)
    {
        while (i < text.Length && text[i] is ' ' or '\t' or '\n' or '\r')
            i++;
        return i;
    }

    /// <summary>Just past the closing quote of the string starting at <paramref name="i"/>, or -1 when it goes on.</summary>
    private static int StringEnd(ReadOnlySpan<char> text, int i)
    {
        for (int j = i + 1; j < text.Length; j++)
        {
            if (text[j] == '\\')
                j++;
            else if (text[j] == '"')
                return j + 1;
        }
        return -1;
    }

    /// <summary>Just past the value starting at <paramref name="i"/>; -1 when the text ends inside it; <see cref="Bad"/> when it is no value.</summary>
    private static int ValueEnd(ReadOnlySpan<char> text, int i)
    {
        char c = text[i];
        if (c == '"')
            return StringEnd(text, i);
        if (c is '{' or '[')
        {
            int depth = 0;
            for (int j = i; j < text.Length; j++)
            {
                switch (text[j])
                {
                    case '"':
                        int e = StringEnd(text, j);
                        if (e < 0)
                            return -1;
                        j = e - 1;
                        break;
                    case '{' or '[':
                        depth++;
                        break;
                    case '}' or ']':
                        if (--depth == 0)
                            return j + 1;
                        break;
                }
            }
            return -1;
        }
        if (c is '-' or (>= '0' and <= '9') or 't' or 'f' or 'n')
        {
            int j = i;
            while (j < text.Length && text[j] is not (',' or '}' or ']' or ' ' or '\t' or '\n' or '\r'))
                j++;
            // A number or literal is known to be complete only when something follows it.
            return j < text.Length ? j : -1;
        }
        return Bad;
    }

    private static string? DecodeString(ReadOnlySpan<char> quoted)
    {
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<string>(quoted.ToString());
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
