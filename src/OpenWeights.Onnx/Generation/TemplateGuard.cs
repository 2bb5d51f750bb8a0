using System.Text.RegularExpressions;

namespace OpenWeights.Onnx.Generation;

/// <summary>
/// Refuses chat templates whose rendering could take the process down, before the native Jinja engine ever sees
/// them. onnxruntime-genai renders on the native stack, and a stack overflow there cannot be caught in .NET: one
/// self-calling macro would kill a server for every client. So whatever makes rendering unbounded is rejected up
/// front: recursion (a macro that reaches itself, <c>recursive</c> loops, <c>call</c> blocks, macros passed around as
/// values), block nesting beyond <see cref="MaxNesting"/>, and the tools of memory and time bombs (integer literals of
/// <see cref="MaxLiteral"/> or more, <c>**</c>, repeated <c>*</c> in one expression). Loops over the conversation stay
/// bounded by its size; the render itself runs under a time and output limit (<see cref="ChatTemplate"/>).
/// </summary>
public static partial class TemplateGuard
{
    public const int MaxSourceChars = 1 << 20;
    public const int MaxNesting = 64;
    public const long MaxLiteral = 100_000;

    /// <summary>Null when the template is safe to render; otherwise what is wrong with it.</summary>
    public static string? Problem(string template)
    {
        if (template.Length > MaxSourceChars)
            return $"it is {template.Length} characters long (at most {MaxSourceChars})";
        List<Tag> tags;
        try { tags = Tags(template); }
        catch (FormatException e) { return e.Message; }

        var macros = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var macroStack = new Stack<string>();
        int depth = 0;
        foreach (var tag in tags.Where(t => t.Statement))
        {
            string keyword = tag.Words.FirstOrDefault() ?? "";
            if (keyword is "call" or "endcall")
                return "it uses a call block, which this server does not render (it can recurse without bound)";
            if (keyword == "for" && tag.Words.Contains("recursive"))
                return "it uses a recursive loop, whose depth cannot be bounded";
            if (keyword == "macro")
            {
                if (tag.Words.Count < 2)
                    return "a macro has no name";
                macros.TryAdd(tag.Words[1], new HashSet<string>(StringComparer.Ordinal));
                macroStack.Push(tag.Words[1]);
            }
            if (keyword == "endmacro" && macroStack.Count > 0)
                macroStack.Pop();
            if (keyword is "for" or "if" or "macro" or "filter" || (keyword == "set" && !tag.Text.Contains('=')))
                depth++;
            else if (keyword.StartsWith("end", StringComparison.Ordinal))
                depth--;
            if (depth > MaxNesting)
                return $"its blocks nest more than {MaxNesting} deep";
        }

        // Every mention of a macro must be a call, and the calls must not lead back to the caller.
        foreach (var tag in tags)
        {
            var names = Identifier().Matches(tag.Code);
            bool definition = tag.Statement && tag.Words is ["macro", ..];
            for (int k = definition ? 2 : 0; k < names.Count; k++)
            {
                var m = names[k];
                if (!macros.ContainsKey(m.Value))
                    continue;
                int after = m.Index + m.Length;
                while (after < tag.Code.Length && char.IsWhiteSpace(tag.Code[after])) after++;
                if (after >= tag.Code.Length || tag.Code[after] != '(')
                    return $"macro '{m.Value}' is used as a value rather than called; its calls cannot be checked for recursion";
                if (tag.Macro is { } caller)
                    macros[caller].Add(m.Value);
            }
            foreach (Match literal in Number().Matches(tag.Code))
                if (literal.Value.Length > 6 || !long.TryParse(literal.Value, out long n) || n >= MaxLiteral)
                    return $"it holds the number {literal.Value} (numbers of {MaxLiteral} or more could make rendering unbounded)";
            if (tag.Code.Contains("**", StringComparison.Ordinal))
                return "it uses '**', which could build unbounded numbers";
            if (tag.Code.Count(c => c == '*') > 1)
                return "it multiplies more than once in one expression, which could build unbounded strings";
        }
        foreach (string macro in macros.Keys)
            if (Reaches(macros, macro, macro, []))
                return $"macro '{macro}' calls itself (directly or through other macros); recursion could overflow the native stack";
        return null;
    }

    private static bool Reaches(Dictionary<string, HashSet<string>> calls, string from, string target, HashSet<string> seen)
    {
        foreach (string callee in calls[from])
        {
            if (callee == target)
                return true;
            if (seen.Add(callee) && Reaches(calls, callee, target, seen))
                return true;
        }
        return false;
    }

    /// <param name="Code">The tag's text with string literals blanked out, so names inside strings do not count.</param>
    /// <param name="Macro">The macro whose body holds the tag, if any.</param>
    private sealed record Tag(bool Statement, string Text, string Code, IReadOnlyList<string> Words, string? Macro);

    /// <summary>The template's <c>{% %}</c> and <c>{{ }}</c> tags, in order, skipping comments and raw blocks.</summary>
    private static List<Tag> Tags(string source)
    {
        var tags = new List<Tag>();
        var macros = new Stack<string>();
        int i = 0;
        while ((i = source.IndexOf('{', i)) >= 0 && i + 1 < source.Length)
        {
            char kind = source[i + 1];
            if (kind == '#')
            {
                int end = source.IndexOf("#}", i + 2, StringComparison.Ordinal);
                if (end < 0) throw new FormatException("a comment is not closed");
                i = end + 2;
                continue;
            }
            if (kind is not ('%' or '{'))
            {
                i++;
                continue;
            }
            string closer = kind == '%' ? "%}" : "}}";
            var code = new System.Text.StringBuilder();
            int j = i + 2;
            char quote = '\0';
            for (; j < source.Length; j++)
            {
                char c = source[j];
                if (quote != '\0')
                {
                    if (c == '\\') { j++; code.Append("  "); continue; }
                    if (c == quote) quote = '\0';
                    code.Append(quote == '\0' ? c : ' ');
                    continue;
                }
                if (c is '\'' or '"') { quote = c; code.Append(c); continue; }
                if (string.CompareOrdinal(source, j, closer, 0, 2) == 0) break;
                code.Append(c);
            }
            if (j >= source.Length)
                throw new FormatException($"a tag opened at character {i} is not closed");
            string text = code.ToString().Trim('-', '+', ' ', '\t', '\r', '\n');
            var words = Identifier().Matches(text).Select(m => m.Value).ToList();
            bool statement = kind == '%';
            string? inMacro = macros.TryPeek(out var current) ? current : null;
            if (statement && words is ["macro", var name, ..])
                macros.Push(name);
            if (statement && words is ["endmacro", ..] && macros.Count > 0)
                macros.Pop();
            tags.Add(new Tag(statement, text, text, words, inMacro ?? (statement && words is ["macro", var own, ..] ? own : null)));
            i = j + 2;
            if (statement && words is ["raw", ..])
            {
                int end = EndRaw().Match(source, i) is { Success: true } m ? m.Index + m.Length : -1;
                if (end < 0) throw new FormatException("a raw block is not closed");
                i = end;
            }
        }
        return tags;
    }

    [GeneratedRegex(@"[A-Za-z_][A-Za-z0-9_]*")]
    private static partial Regex Identifier();

    // Integer literals, with any exponent (1e9), which is refused whatever its size.
    [GeneratedRegex(@"(?<![A-Za-z_0-9.])\d+(?:[eE][+-]?\d+)?")]
    private static partial Regex Number();

    [GeneratedRegex(@"\{%[-+]?\s*endraw\s*[-+]?%\}")]
    private static partial Regex EndRaw();
}
