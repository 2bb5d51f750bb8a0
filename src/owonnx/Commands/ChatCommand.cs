using Cocona;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Cli.Commands;

public sealed class ChatCommand
{
    [Command("chat", Description = "Talk to a converted model through its chat template. Empty line or Ctrl-D ends.")]
    public int Chat(
        [FromService] CoconaAppContext context,
        [Argument(Description = "Converted model folder")] string model,
        [Option(Description = "System prompt")] string? system,
        GenerationParameters parameters,
        DeviceParameters device)
    {
        return CliErrors.Run(() =>
        {
            var (generator, options) = parameters.Load(model, device);
            using var _ = generator;
            using var session = new ChatSession(generator, ChatTemplate.ForModel(model, generator.Tokenizer.ChatTemplate), system);
            var cancel = context.CancellationToken;

            while (!cancel.IsCancellationRequested)
            {
                Console.Error.Write("> ");
                string? line = Console.In.ReadLine();
                if (string.IsNullOrWhiteSpace(line))
                    break;
                foreach (var chunk in session.Send(line, options, cancel))
                    Console.Out.Write(chunk.Text);
                Console.Out.WriteLine();
                RunCommand.PrintStats(generator.Tokens.Stats, generator.Tokens.Finish);
            }
            return 0;
        });
    }
}
