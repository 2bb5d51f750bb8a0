using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using OpenWeights.Onnx.Cli.Commands;

namespace OpenWeights.Onnx.Cli.CommandLine;

/// <summary>
/// The owonnx command line: every command, and the conventions they share — exit codes 0 (success),
/// 1 (failure while working), 2 (usage error), 130 (cancelled); one error style; <c>owonnx help [command]</c>.
/// </summary>
internal static class OwonnxCommandLine
{
    public static RootCommand Build(Interrupts interrupts) => new(
        "owonnx: convert open-weights LLM checkpoints (Hugging Face layout) to ONNX and run them with ONNX Runtime.")
    {
        ConvertCommand.Create(interrupts),
        InspectCommand.Create(),
        RunCommand.Create(interrupts),
        ChatCommand.Create(interrupts),
        BenchCommand.Create(interrupts),
        EvalCommand.Create(interrupts),
        ServeCommand.Create(interrupts),
        PullCommand.Create(interrupts),
        ProvidersCommand.Create(),
        AdapterCommand.Create(),
    };

    public static async Task<int> RunAsync(string[] args)
    {
        using var interrupts = new Interrupts();
        var root = Build(interrupts);
        var parse = root.Parse(HelpCommandAsOption(args));
        if (parse.Action is HelpAction)
            return await parse.InvokeAsync(Configuration);
        if (parse.Errors.Count > 0)
            return UsageError(parse, MostSpecific(parse.Errors));
        if (parse.CommandResult.Command == root && parse.Action is null)
            return UsageError(parse, "no command given");
        return await parse.InvokeAsync(Configuration, interrupts.Token);
    }

    private static InvocationConfiguration Configuration => new()
    {
        // Interrupts handles Ctrl-C and SIGTERM itself (chat takes the first Ctrl-C for the reply).
        ProcessTerminationTimeout = null,
        EnableDefaultExceptionHandler = false,
    };

    /// <summary><c>owonnx help</c> and <c>owonnx help run</c> are <c>owonnx --help</c> and <c>owonnx run --help</c>.</summary>
    private static string[] HelpCommandAsOption(string[] args) =>
        args is ["help", .. var rest] ? [.. rest, "--help"] : args;

    /// <summary>"'x' is not a command" says more than "no command given", which the parser also reports for it.</summary>
    private static string MostSpecific(IReadOnlyList<ParseError> errors)
    {
        var specific = errors.FirstOrDefault(e => e.Message.EndsWith(')'))   // owonnx's own checks say what to do
                       ?? errors.FirstOrDefault(e => !e.Message.StartsWith("Required command", StringComparison.Ordinal))
                       ?? errors[0];
        string message = specific.Message.TrimEnd('.');
        if (message.StartsWith("Required command", StringComparison.Ordinal))
            return "no command given";
        if (message.StartsWith("Unrecognized command or argument ", StringComparison.Ordinal))
            return $"unknown command, option or argument {message["Unrecognized command or argument ".Length..]}";
        // The parser's own messages begin with a capital; ours do not.
        return message.Length > 1 && char.IsUpper(message[0]) && char.IsLower(message[1])
            ? char.ToLowerInvariant(message[0]) + message[1..]
            : message;
    }

    private static int UsageError(ParseResult parse, string message)
    {
        string command = string.Join(' ', CommandPath(parse.CommandResult));
        // Messages from owonnx's own option parsers already end with what to do.
        CliErrors.Write(message.EndsWith(')') ? message : $"{message} (see '{command} --help')");
        return CliErrors.Usage;
    }

    private static IEnumerable<string> CommandPath(CommandResult? result)
    {
        var names = new Stack<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
            if (r is CommandResult c)
                names.Push(c.Command is RootCommand ? "owonnx" : c.Command.Name);
        return names;
    }
}
