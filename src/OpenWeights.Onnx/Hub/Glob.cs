using System.Text;
using System.Text.RegularExpressions;

namespace OpenWeights.Onnx.Hub;

/// <summary>
/// A file name pattern with Python <c>fnmatch</c>'s rules, which huggingface_hub's allow/ignore patterns use:
/// <c>*</c> and <c>?</c> also match '/', <c>[abc]</c> is a set; a pattern ending in '/' means everything under it.
/// </summary>
public sealed class Glob
{
    private readonly Regex _regex;

    public Glob(string pattern)
    {
        if (string.IsNullOrWhiteSpace(pattern))
            throw new ArgumentException("an empty file pattern matches nothing; give a glob such as '*.safetensors'.");
        Pattern = pattern;
        _regex = new Regex(ToRegex(pattern.EndsWith('/') ? pattern + "*" : pattern), RegexOptions.CultureInvariant);
    }

    public string Pattern { get; }

    public bool IsMatch(string path) => _regex.IsMatch(path);

    public override string ToString() => Pattern;

    private static string ToRegex(string pattern)
    {
        var regex = new StringBuilder("^");
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            switch (c)
            {
                case '*': regex.Append(".*"); break;
                case '?': regex.Append('.'); break;
                case '[':
                    int close = pattern.IndexOf(']', i + 2);
                    if (close < 0)
                    {
                        regex.Append(@"\[");
                        break;
                    }
                    string set = pattern[(i + 1)..close];
                    regex.Append('[').Append(set.StartsWith('!') ? "^" + Regex.Escape(set[1..]) : Regex.Escape(set)).Append(']');
                    i = close;
                    break;
                default: regex.Append(Regex.Escape(c.ToString())); break;
            }
        }
        return regex.Append('$').ToString();
    }
}
