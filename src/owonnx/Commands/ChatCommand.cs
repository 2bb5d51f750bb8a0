using Cocona;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Cli.Commands;

public sealed class ChatCommand
{
    [Command("chat", Description = "Talk to a converted model through its chat template. Empty line or Ctrl-D ends.")]
    public int Chat(
        [Argument(Description = "Converted model folder")] string model,
        [Option(Description = "System prompt")] string? system,
        GenerationParameters parameters,
        CoconaAppContext? context = null)
    {
        return CliErrors.Run(() =>
        {
            var options = parameters.ToGenerationOptions();
            options.Validate();
            var runtime = parameters.ToRuntimeOptions();
            runtime.Validate();
            using var lm = LanguageModel.Load(model, runtime);
            var tokenizer = TextTokenizer.FromFolder(model);
            using var generator = new TextGenerator(lm, tokenizer);
            using var session = new ChatSession(generator, ChatTemplate.ForModel(model, tokenizer.ChatTemplate), system);
            var cancel = context?.CancellationToken ?? default;

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
