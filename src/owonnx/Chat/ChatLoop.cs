using System.CommandLine;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Cli.Commands;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Cli.Chat;

/// <summary>
/// The conversation loop of <c>owonnx chat</c>, as people know it from <c>ollama run</c>: Ctrl-C stops a reply and
/// returns to the prompt (at the prompt it quits), Ctrl-D or /bye quits, an empty line is ignored, and
/// /clear, /set and /? manage the session. Replies go to stdout; everything else to stderr.
/// </summary>
internal sealed class ChatLoop(ChatSession session, TextGenerator generator, GenerationOptions options, Interrupts interrupts)
{
    public const string Help = """"
        /set <option> <value>   change a setting for the next replies: system, max-new-tokens, temperature, top-k, top-p,
                                min-p, repetition-penalty, presence-penalty, frequency-penalty, seed, stop
        /clear                  forget the conversation (the system prompt stays)
        /bye                    quit (or Ctrl-D)
        /?                      this help
        """                     start and end a message of several lines
        Ctrl-C stops a reply; at the prompt it quits.
        """";

    private GenerationOptions _options = options;

    public int Run(TextReader input, bool interactive)
    {
        var reader = new InputReader(input, interactive);
        if (interactive)
            Console.Error.WriteLine("Type a message, /? for help, /bye or Ctrl-D to quit.");
        while (true)
        {
            string? message;
            try
            {
                message = reader.ReadMessage(interrupts.Token);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine();
                return CliErrors.Cancelled;
            }
            if (message is null)
                return CliErrors.Success;
            string trimmed = message.Trim();
            if (trimmed.Length == 0)
                continue;
            if (trimmed.StartsWith('/') && !message.Contains('\n'))
            {
                if (!Command(trimmed))
                    return CliErrors.Success;
                continue;
            }
            if (!Reply(message))
                return CliErrors.Cancelled;
        }
    }

    /// <summary>Streams one reply; false when the whole chat was cancelled (a second Ctrl-C during a reply).</summary>
    private bool Reply(string message)
    {
        using var stopReply = new CancellationTokenSource();
        using var either = CancellationTokenSource.CreateLinkedTokenSource(stopReply.Token, interrupts.Token);
        using (interrupts.Intercept(() =>
               {
                   if (stopReply.IsCancellationRequested)
                       return false;
                   stopReply.Cancel();
                   return true;
               }))
        {
            try
            {
                bool first = true;
                foreach (var chunk in session.Send(message, _options, either.Token))
                {
                    if (first && session.DroppedMessages > 0)
                        Console.Error.WriteLine($"owonnx: the conversation no longer fits the context ({generator.Tokens.MaxLength} tokens " +
                                                $"with room for {_options.MaxNewTokens} new); dropped the oldest {session.DroppedMessages} messages");
                    first = false;
                    Console.Out.Write(chunk.Text);
                    Console.Out.Flush();
                }
            }
            catch (ContextOverflowException e)
            {
                CliErrors.Write($"this message needs {e.Needed} tokens with its reply but the cache holds {e.MaxLength} " +
                                "(send a shorter message, /set max-new-tokens lower, or start with a larger --max-length)");
                return true;
            }
        }
        Console.Out.WriteLine();
        Console.Out.Flush();
        Console.Error.WriteLine(Statistics.Describe(generator.Tokens.Stats, generator.Tokens.Finish));
        return !interrupts.Token.IsCancellationRequested;
    }

    /// <summary>Runs a /command; false when it ends the chat.</summary>
    private bool Command(string line)
    {
        string[] parts = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        switch (parts[0])
        {
            case "/bye" or "/exit" or "/quit":
                return false;
            case "/?" or "/help":
                Console.Error.WriteLine(Help);
                break;
            case "/clear":
                session.Clear();
                Console.Error.WriteLine("owonnx: cleared the conversation");
                break;
            case "/set" when parts.Length == 3:
                Set(parts[1], parts[2]);
                break;
            case "/set":
                CliErrors.Write("/set needs an option and a value (e.g. /set temperature 0.7; /? lists them)");
                break;
            default:
                CliErrors.Write($"unknown command '{parts[0]}' (type /? for the list)");
                break;
        }
        return true;
    }

    private void Set(string name, string value)
    {
        if (name == "system")
        {
            session.SetSystemPrompt(value);
            Console.Error.WriteLine("owonnx: set the system prompt");
            return;
        }
        // The same options, parsers and range checks as on the command line.
        var set = new GenerationOptionSet();
        var scratch = new Command("/set");
        foreach (var option in set.Settable)
            scratch.Options.Add(option);
        if (!set.Settable.Any(o => o.Name == "--" + name))
        {
            CliErrors.Write($"/set {name}: unknown option (type /? for the list)");
            return;
        }
        var parse = scratch.Parse(["--" + name, value]);
        if (parse.Errors.Count > 0)
        {
            CliErrors.Write(parse.Errors[0].Message.Replace("--" + name, "/set " + name, StringComparison.Ordinal));
            return;
        }
        var updated = set.Apply(parse, _options);
        try
        {
            updated.Validate();
        }
        catch (ArgumentException e)
        {
            CliErrors.Write($"/set {name} {value}: {e.Message}");
            return;
        }
        _options = updated;
        Console.Error.WriteLine($"owonnx: set {name} to {value}");
    }
}
