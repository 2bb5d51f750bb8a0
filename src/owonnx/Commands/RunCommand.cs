using System.CommandLine;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary><c>owonnx run &lt;model&gt; ["prompt"]</c>: one generation; the text on stdout, one line of statistics on stderr.</summary>
internal static class RunCommand
{
    public static Command Create(Interrupts interrupts)
    {
        var model = new Argument<string>("model") { Description = "Converted model folder" }.RejectingOptions("run");
        var positional = new Argument<string?>("prompt")
        {
            Description = "Prompt text (or --prompt; when neither is given, standard input is read)",
            Arity = ArgumentArity.ZeroOrOne,
        };
        positional.RejectingOptions("run");
        var prompt = CliOptions.Text("--prompt", "Prompt text, instead of the positional prompt (default: the positional prompt, else standard input)", "-p");
        var chat = CliOptions.Flag("--chat", "Render the prompt as a user message through the model's chat template");
        var generation = new GenerationOptionSet();
        var constraint = new ConstraintOptionSet();
        var command = new Command("run", "Generate text from a converted model. The text goes to stdout, statistics to stderr.")
        {
            model, positional, prompt, chat,
        };
        generation.AddTo(command);
        constraint.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(() =>
        {
            string text = PromptText(parse.GetValue(positional), parse.GetValue(prompt));
            string folder = parse.GetValue(model)!;
            var json = constraint.Read(parse);
            var (generator, loaded) = generation.Load(parse, folder);
            var options = loaded with { Constraint = json };
            using var _ = generator;
            var cancel = interrupts.Token;

            using var session = parse.GetValue(chat)
                ? new ChatSession(generator, ChatTemplate.ForModel(folder, generator.Tokenizer.ChatTemplate))
                : null;
            var chunks = session is null ? generator.Stream(text, options, cancel) : session.Send(text, options, cancel);
            foreach (var chunk in chunks)
                Console.Out.Write(chunk.Text);
            Console.Out.WriteLine();
            Console.Out.Flush();
            Console.Error.WriteLine(Statistics.Describe(generator.Tokens.Stats, generator.Tokens.Finish));
            return Task.FromResult(generator.Tokens.Finish == FinishReason.Cancelled ? CliErrors.Cancelled : CliErrors.Success);
        }));
        return command;
    }

    /// <summary>The positional prompt, --prompt, or else standard input (so that <c>echo text | owonnx run model</c> works).</summary>
    private static string PromptText(string? positional, string? option)
    {
        if (positional is not null && option is not null)
            throw new UsageException("the prompt was given twice, as an argument and with --prompt (give it once)");
        string? text = positional ?? option;
        if (text is null)
        {
            if (!Console.IsInputRedirected)
                throw new UsageException("no prompt (give it after the model folder, with --prompt, or on standard input)");
            text = Console.In.ReadToEnd().TrimEnd('\r', '\n');
        }
        if (text.Length == 0)
            throw new UsageException("the prompt is empty (give some text to continue)");
        return text;
    }
}

/// <summary>The statistics line of run and chat: each figure says what it measures.</summary>
internal static class Statistics
{
    public static string Describe(GenerationStats s, FinishReason? finish)
    {
        string reused = s.ReusedPromptTokens > 0 ? $" ({s.ReusedPromptTokens} reused from the cache)" : "";
        string why = finish switch
        {
            FinishReason.Stop => "end-of-text token or stop string",
            FinishReason.Length => "--max-new-tokens reached",
            FinishReason.Cancelled => "interrupted",
            _ => "-",
        };
        string speed = s.GeneratedTokens > 1 ? $", then {s.DecodeTokensPerSecond:F1} tokens/s" : "";
        return $"prompt {s.PromptTokens} tokens{reused}; generated {s.GeneratedTokens} ({why}); " +
               $"first token after {s.TimeToFirstToken.TotalMilliseconds:F0} ms{speed}";
    }
}
