using Cocona;
using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>Sampling and runtime options shared by run, chat and serve.</summary>
public sealed record GenerationParameters(
    [Option("max-new-tokens", Description = "Tokens to generate at most")] int MaxNewTokens = 128,
    [Option(Description = "Sampling temperature; 0 = greedy")] float Temperature = 0f,
    [Option("top-k", Description = "Keep the k most likely tokens; 0 = off")] int TopK = 0,
    [Option("top-p", Description = "Nucleus sampling mass in (0, 1]; 1 = off")] float TopP = 1f,
    [Option("min-p", Description = "Drop tokens below min-p × the top probability; 0 = off")] float MinP = 0f,
    [Option("repetition-penalty", Description = "Hugging Face repetition penalty; 1 = off")] float RepetitionPenalty = 1f,
    [Option("presence-penalty", Description = "OpenAI presence penalty; 0 = off")] float PresencePenalty = 0f,
    [Option("frequency-penalty", Description = "OpenAI frequency penalty; 0 = off")] float FrequencyPenalty = 0f,
    [Option(Description = "Random seed: the same seed gives the same text")] long? Seed = null,
    [Option(Description = "Stop before this string (repeatable)")] string[]? Stop = null,
    [Option("max-length", Description = "KV cache length in tokens (prompt + generated)")] int? MaxLength = null,
    [Option(Description = "Execution provider: cpu, cuda, tensorrt")] string Ep = "cpu",
    [Option(Description = "Intra-op threads (default: one per core)")] int? Threads = null,
    [Option(Description = "Run-time LoRA adapter file made by 'owonnx adapter' for this model")] string? Adapter = null) : ICommandParameterSet
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

    public RuntimeOptions ToRuntimeOptions(DeviceParameters device) => new()
    {
        ExecutionProvider = CliParse.Target(Ep),
        MaxLength = MaxLength,
        Threads = Threads,
        Gpu = device.ToGpuOptions(),
    };

    /// <summary>Validates every option, then loads the model and its tokenizer into a generator.</summary>
    public (TextGenerator Generator, GenerationOptions Options) Load(string model, DeviceParameters device)
    {
        var options = ToGenerationOptions();
        options.Validate();
        var runtime = ToRuntimeOptions(device);
        runtime.Validate();
        var adapter = Adapter is null ? null : AdapterFile.Load(Adapter);
        var lm = LanguageModel.Load(model, runtime);
        try
        {
            return (new TextGenerator(lm, TextTokenizer.FromFolder(model), ownsModel: true, adapter), options);
        }
        catch
        {
            lm.Dispose();
            throw;
        }
    }
}

public sealed class RunCommand
{
    [Command("run", Description = "Generate text from a converted model. The text goes to stdout, statistics to stderr.")]
    public int Run(
        [FromService] CoconaAppContext context,
        [Argument(Description = "Converted model folder")] string model,
        [Option('p', Description = "Prompt text")] string prompt,
        [Option(Description = "Render the prompt as a user message through the model's chat template")] bool chat,
        GenerationParameters parameters,
        DeviceParameters device)
    {
        return CliErrors.Run(() =>
        {
            var (generator, options) = parameters.Load(model, device);
            using var _ = generator;
            var tokenizer = generator.Tokenizer;

            IEnumerable<TextChunk> chunks;
            ChatSession? session = null;
            if (chat)
            {
                session = new ChatSession(generator, ChatTemplate.ForModel(model, tokenizer.ChatTemplate));
                chunks = session.Send(prompt, options, context.CancellationToken);
            }
            else
            {
                chunks = generator.Stream(prompt, options, context.CancellationToken);
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
