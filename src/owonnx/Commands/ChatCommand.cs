using System.CommandLine;
using OpenWeights.Onnx.Cli.Chat;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary><c>owonnx chat &lt;model&gt;</c>: a conversation through the model's chat template.</summary>
internal static class ChatCommand
{
    public static Command Create(Interrupts interrupts)
    {
        var model = new Argument<string>("model") { Description = "Converted model folder" }.RejectingOptions("chat");
        var system = CliOptions.Text("--system", "System prompt (default: none)");
        var generation = new GenerationOptionSet();
        var command = new Command("chat",
            "Talk to a converted model through its chat template. Ctrl-C stops a reply, Ctrl-D or /bye quits, /? lists the commands. " +
            "When the conversation outgrows --max-length, the oldest turns are dropped (the system prompt stays).")
        {
            model, system,
        };
        generation.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(() =>
        {
            string folder = parse.GetValue(model)!;
            var (generator, options) = generation.Load(parse, folder);
            using var _ = generator;
            using var session = new ChatSession(generator, ChatTemplate.ForModel(folder, generator.Tokenizer.ChatTemplate), parse.GetValue(system));
            var loop = new ChatLoop(session, generator, options, interrupts);
            return Task.FromResult(loop.Run(Console.In, interactive: !Console.IsInputRedirected));
        }));
        return command;
    }
}
