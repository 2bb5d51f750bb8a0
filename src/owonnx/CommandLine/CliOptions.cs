using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace OpenWeights.Onnx.Cli.CommandLine;

/// <summary>
/// Options whose parse errors read like the rest of owonnx's errors: the option as the user typed it, the value,
/// and what is allowed — never a .NET type name. Every option with a value states its default in the help
/// (either a default value, or "(default: …)" in its description when the default is computed).
/// </summary>
internal static class CliOptions
{
    public static Option<int> Int(string name, string description, int defaultValue, int min, int max = int.MaxValue, params string[] aliases)
    {
        var option = new Option<int>(name, aliases) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.CustomParser = r => ParseInt(r, name, min, max) ?? defaultValue;
        return option;
    }

    /// <summary>An integer whose default is computed later (say so in <paramref name="description"/>).</summary>
    public static Option<int?> OptionalInt(string name, string description, int min, int max = int.MaxValue) =>
        new(name) { Description = description, CustomParser = r => ParseInt(r, name, min, max) };

    public static Option<long?> OptionalLong(string name, string description, long min, long max = long.MaxValue) =>
        new(name)
        {
            Description = description,
            CustomParser = r =>
            {
                string text = r.Tokens[0].Value;
                if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
                    return Error<long?>(r, $"{Typed(r, name)} '{text}' is not a whole number");
                return value < min || value > max ? Error<long?>(r, $"{Typed(r, name)} {value} is out of range (use {Range(min, max)})") : value;
            },
        };

    public static Option<long> Long(string name, string description, long defaultValue, long min, long max = long.MaxValue)
    {
        var optional = OptionalLong(name, description, min, max);
        return new Option<long>(name)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r => optional.CustomParser!(r) ?? defaultValue,
        };
    }

    /// <summary>
    /// A real number checked against a range; <paramref name="range"/> describes it for the error message,
    /// e.g. "a number in (0, 1]; 1 = off".
    /// </summary>
    public static Option<float?> OptionalFloat(string name, string description, Func<float, bool> valid, string range) =>
        new(name)
        {
            Description = description,
            CustomParser = r =>
            {
                string text = r.Tokens[0].Value;
                if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) || !float.IsFinite(value))
                    return Error<float?>(r, $"{Typed(r, name)} '{text}' is not a number (use {range})");
                return valid(value) ? value : Error<float?>(r, $"{Typed(r, name)} {text} is out of range (use {range})");
            },
        };

    public static Option<double> Double(string name, string description, double defaultValue, Func<double, bool> valid, string range) =>
        new(name)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r =>
            {
                string text = r.Tokens[0].Value;
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
                    return Error<double>(r, $"{Typed(r, name)} '{text}' is not a number (use {range})");
                return valid(value) ? value : Error<double>(r, $"{Typed(r, name)} {text} is out of range (use {range})");
            },
        };

    /// <summary>One of a fixed set of words (case-insensitive); the help lists them.</summary>
    public static Option<string> Choice(string name, string description, string? defaultValue, params string[] choices)
    {
        var option = new Option<string>(name)
        {
            Description = $"{description}: {string.Join(", ", choices)}",
            HelpName = string.Join("|", choices),
            CustomParser = r =>
            {
                string text = r.Tokens[0].Value;
                string? match = choices.FirstOrDefault(c => c.Equals(text, StringComparison.OrdinalIgnoreCase));
                return match ?? Error<string>(r, $"{Typed(r, name)} '{text}' is not one of: {string.Join(", ", choices)}")!;
            },
        };
        if (defaultValue is not null)
            option.DefaultValueFactory = _ => defaultValue;
        return option;
    }

    public static Option<string> Text(string name, string description, params string[] aliases) =>
        new(name, aliases) { Description = description };

    /// <summary>An on/off switch: off unless given (so its help needs no default).</summary>
    public static Option<bool> Flag(string name, string description) =>
        new(name) { Description = description, Arity = ArgumentArity.Zero };

    /// <summary>
    /// A positional argument that refuses "--something": a mistyped option would otherwise be taken as the argument
    /// (and its value reported as an unexpected extra argument).
    /// </summary>
    public static Argument<T> RejectingOptions<T>(this Argument<T> argument, string command)
    {
        argument.Validators.Add(r =>
        {
            if (r.Tokens is [{ Value: var text }] && text.StartsWith("--", StringComparison.Ordinal))
                r.AddError($"unknown option '{text}' (see 'owonnx {command} --help')");
        });
        return argument;
    }

    /// <summary>The option's name exactly as it appeared on the command line (an alias, or the long name).</summary>
    public static string Typed(ArgumentResult result, string name) =>
        (result.Parent as OptionResult)?.IdentifierToken?.Value ?? name;

    /// <summary>The name the user typed for <paramref name="option"/> in this parse, or its long name if it was not given.</summary>
    public static string Typed(ParseResult parse, Option option) =>
        parse.GetResult(option)?.IdentifierToken?.Value ?? option.Name;

    private static int? ParseInt(ArgumentResult r, string name, int min, int max)
    {
        string text = r.Tokens[0].Value;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
            return Error<int?>(r, long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                ? $"{Typed(r, name)} {text} is out of range (use {Range(min, max)})"
                : $"{Typed(r, name)} '{text}' is not a whole number (use {Range(min, max)})");
        return value < min || value > max ? Error<int?>(r, $"{Typed(r, name)} {value} is out of range (use {Range(min, max)})") : value;
    }

    private static string Range(long min, long max) =>
        max is int.MaxValue or long.MaxValue ? $"a whole number >= {min}" : $"a whole number from {min} to {max}";

    private static T? Error<T>(ArgumentResult result, string message)
    {
        result.AddError(message);
        return default;
    }
}
