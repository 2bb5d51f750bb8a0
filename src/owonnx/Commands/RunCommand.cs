using Cocona;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>Sampling and runtime options shared by run, chat and serve.</summary>
public sealed record GenerationParameters(
    [property: Option("max-new-tokens", Description = "Tokens to generate at most")] int MaxNewTokens = 128,
    [property: Option(Description = "Sampling temperature; 0 = greedy")] float Temperature = 0f,
    [property: Option("top-k", Description = "Keep the k most likely tokens; 0 = off")] int TopK = 0,
    [property: Option("top-p", Description = "Nucleus sampling mass in (0, 1]; 1 = off")] float TopP = 1f,
    [property: Option("min-p", Description = "Drop tokens below min-p × the top probability; 0 = off")] float MinP = 0f,
    [property: Option("repetition-penalty", Description = "Hugging Face repetition penalty; 1 = off")] float RepetitionPenalty = 1f,
    [property: Option("presence-penalty", Description = "OpenAI presence penalty; 0 = off")] float PresencePenalty = 0f,
    [property: Option("frequency-penalty", Description = "OpenAI frequency penalty; 0 = off")] float FrequencyPenalty = 0f,
    [property: Option(Description = "Random seed: the same seed gives the same text")] long? Seed = null,
    [property: Option(Description = "Stop before this string (repeatable)")] string[]? Stop = null,
    [property: Option("max-length", Description = "KV cache length in tokens (prompt + generated)")] int? MaxLength = null,
    [property: Option(Description = "Execution provider: cpu, cuda, tensorrt")] string Ep = "cpu",
    [property: Option(Description = "Intra-op threads (default: one per core)")] int? Threads = null) : ICommandParameterSet
{
    public GenerationOptions ToGenerationOptions() => new()
    {
        MaxNewTokens = MaxNewTokens,
        StopStrings = Stop ?? [],
        Sampling = new SamplingOptions
        {
            Temperature = Temperature,
            TopK = TopK,
            TopP = TopP,
            MinP = MinP,
            RepetitionPenalty = RepetitionPenalty,
            PresencePenalty = PresencePenalty,
            FrequencyPenalty = FrequencyPenalty,
            Seed = Seed,
        },
    };

    public RuntimeOptions ToRuntimeOptions() => new()
    {
        ExecutionProvider = CliParse.Target(Ep),
        MaxLength = MaxLength,
        Threads = Threads,
    };
}

public sealed class RunCommand
{
    [Command("run", Description = "Generate text from a converted model. The text goes to stdout, statistics to stderr.")]
    public int Run(
        [Argument(Description = "Converted model folder")] string model,
        [Option('p', Description = "Prompt text")] string prompt,
        [Option(Description = "Render the prompt as a user message through the model's chat template")] bool chat,
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

            IEnumerable<TextChunk> chunks;
            ChatSession? session = null;
            if (chat)
            {
                session = new ChatSession(generator, ChatTemplate.ForModel(model, tokenizer.ChatTemplate));
                chunks = session.Send(prompt, options, context?.CancellationToken ?? default);
            }
            else
            {
                chunks = generator.Stream(prompt, options, context?.CancellationToken ?? default);
            }
            using (session)
            {
                foreach (var chunk in chunks)
                    Console.Out.Write(chunk.Text);
            }
            Console.Out.WriteLine();
            Console.Out.Flush();
            PrintStats(generator.Tokens.Stats, generator.Tokens.Finish);
            return generator.Tokens.Finish == FinishReason.Cancelled ? CliErrors.Cancelled : 0;
        });
    }

    internal static void PrintStats(GenerationStats s, FinishReason? finish) =>
        Console.Error.WriteLine(
            $"prompt {s.PromptTokens} tokens ({s.ReusedPromptTokens} cached), generated {s.GeneratedTokens} " +
            $"({finish?.ToString().ToLowerInvariant() ?? "-"}), time to first token {s.TimeToFirstToken.TotalMilliseconds:F0} ms, " +
            $"{s.DecodeTokensPerSecond:F1} tokens/s, loop overhead {s.LoopOverhead:P1}");
}
