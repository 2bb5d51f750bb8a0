using System.CommandLine;
using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tokenization;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>
/// The sampling and runtime options that run and chat share. Sampling options left out take the model's own
/// defaults from its generation_config.json, as transformers does: temperature, top-k, top-p and repetition
/// penalty as the model's authors set them, and greedy decoding when it says <c>do_sample: false</c>.
/// </summary>
internal sealed class GenerationOptionSet
{
    private const string FromModel = "default: the model's generation_config.json";

    public readonly Option<int> MaxNewTokens = CliOptions.Int("--max-new-tokens", "Tokens to generate at most", 128, 1);
    public readonly Option<float?> Temperature = CliOptions.OptionalFloat("--temperature",
        $"Sampling temperature; 0 = greedy ({FromModel}: its temperature when do_sample is true, else 0)", t => t >= 0, "a number >= 0; 0 = greedy");
    public readonly Option<int?> TopK = CliOptions.OptionalInt("--top-k", $"Keep the k most likely tokens; 0 = off ({FromModel}, else 50)", 0);
    public readonly Option<float?> TopP = CliOptions.OptionalFloat("--top-p", $"Nucleus sampling mass in (0, 1]; 1 = off ({FromModel}, else 1)",
        p => p > 0 && p <= 1, "a number in (0, 1]; 1 = off");
    public readonly Option<float?> MinP = CliOptions.OptionalFloat("--min-p", "Drop tokens below min-p × the top probability; 0 = off (default: 0)",
        p => p >= 0 && p < 1, "a number in [0, 1); 0 = off");
    public readonly Option<float?> RepetitionPenalty = CliOptions.OptionalFloat("--repetition-penalty",
        $"Hugging Face repetition penalty; 1 = off ({FromModel}, else 1)", r => r > 0, "a number > 0; 1 = off");
    public readonly Option<float?> PresencePenalty = CliOptions.OptionalFloat("--presence-penalty", "OpenAI presence penalty in [-2, 2]; 0 = off (default: 0)",
        p => p is >= -2 and <= 2, "a number in [-2, 2]; 0 = off");
    public readonly Option<float?> FrequencyPenalty = CliOptions.OptionalFloat("--frequency-penalty", "OpenAI frequency penalty in [-2, 2]; 0 = off (default: 0)",
        p => p is >= -2 and <= 2, "a number in [-2, 2]; 0 = off");
    public readonly Option<long?> Seed = CliOptions.OptionalLong("--seed", "Random seed: the same seed gives the same text (default: a random seed)", long.MinValue);
    public readonly Option<string[]> Stop = new("--stop") { Description = "Stop before this string; repeatable (default: none)", Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };
    public readonly Option<bool> IgnoreEos = CliOptions.Flag("--ignore-eos",
        "Keep generating past the end-of-text token, up to --max-new-tokens (for benchmarks; default: stop at it)");
    public readonly Option<int?> MaxLength = CliOptions.OptionalInt("--max-length",
        $"KV cache length in tokens, prompt + generated (default: {RuntimeOptions.DefaultMaxLength}, capped at the model's context)", 2);
    public readonly Option<string> Ep = CliOptions.Choice("--ep", "Execution provider", "cpu", "cpu", "cuda", "tensorrt");
    public readonly Option<string> Adapter = CliOptions.Text("--adapter", "Run-time LoRA adapter file made by 'owonnx adapter' for this model (default: none)");
    public readonly Option<int?> Threads = CliOptions.OptionalInt("--threads", "ONNX Runtime intra-op threads (default: one per core)", 1, RuntimeOptions.MaxThreads);

    public readonly DeviceOptionSet Device = new();

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { MaxNewTokens, Temperature, TopK, TopP, MinP, RepetitionPenalty, PresencePenalty,
                     FrequencyPenalty, Seed, Stop, IgnoreEos, MaxLength, Ep, Threads, Adapter })
            command.Options.Add(option);
        Device.AddTo(command);
    }

    public RuntimeOptions Runtime(ParseResult parse) => new()
    {
        ExecutionProvider = ExecutionTargets.Parse(parse.GetValue(Ep)!),
        MaxLength = parse.GetValue(MaxLength),
        Threads = parse.GetValue(Threads),
        Gpu = Device.Read(parse),
    };

    /// <summary>What the command line asks for, over the model's generation_config.json.</summary>
    public GenerationOptions Generation(ParseResult parse, string modelFolder) => Apply(parse, ModelDefaults(modelFolder));

    /// <summary>The model's own sampling defaults (generation_config.json; greedy when it says do_sample: false or is absent).</summary>
    public static GenerationOptions ModelDefaults(string modelFolder)
    {
        var config = GenerationConfig.Load(Path.Combine(modelFolder, "generation_config.json"));
        return new GenerationOptions
        {
            Sampling = new SamplingOptions
            {
                Temperature = config.DoSample ? (float)config.Temperature : 0f,
                TopK = config.TopK,
                TopP = (float)config.TopP,
                RepetitionPenalty = (float)config.RepetitionPenalty,
            },
        };
    }

    /// <summary><paramref name="current"/> with the options that were given on this command line (or chat's /set).</summary>
    public GenerationOptions Apply(ParseResult parse, GenerationOptions current)
    {
        bool Given(Option option) => parse.GetResult(option) is { Implicit: false };
        var s = current.Sampling;
        return current with
        {
            MaxNewTokens = Given(MaxNewTokens) ? parse.GetValue(MaxNewTokens) : current.MaxNewTokens,
            StopStrings = Given(Stop) ? parse.GetValue(Stop) ?? [] : current.StopStrings,
            StopAtEos = Given(IgnoreEos) ? !parse.GetValue(IgnoreEos) : current.StopAtEos,
            Sampling = s with
            {
                Temperature = parse.GetValue(Temperature) ?? s.Temperature,
                TopK = parse.GetValue(TopK) ?? s.TopK,
                TopP = parse.GetValue(TopP) ?? s.TopP,
                MinP = parse.GetValue(MinP) ?? s.MinP,
                RepetitionPenalty = parse.GetValue(RepetitionPenalty) ?? s.RepetitionPenalty,
                PresencePenalty = parse.GetValue(PresencePenalty) ?? s.PresencePenalty,
                FrequencyPenalty = parse.GetValue(FrequencyPenalty) ?? s.FrequencyPenalty,
                Seed = parse.GetValue(Seed) ?? s.Seed,
            },
        };
    }

    /// <summary>The sampling options chat's /set can change, by their command-line names without dashes.</summary>
    public IEnumerable<Option> Settable => [MaxNewTokens, Temperature, TopK, TopP, MinP, RepetitionPenalty, PresencePenalty, FrequencyPenalty, Seed, Stop];

    /// <summary>Checks the options, then loads the model and its tokenizer into a generator.</summary>
    public (TextGenerator Generator, GenerationOptions Options) Load(ParseResult parse, string modelFolder)
    {
        if (!Directory.Exists(modelFolder))
            throw new UsageException($"{modelFolder}: model folder not found (give a folder made by owonnx convert)");
        var options = Generation(parse, modelFolder);
        options.Validate();
        var adapter = parse.GetValue(Adapter) is { } file ? AdapterFile.Load(file) : null;
        var lm = LanguageModel.Load(modelFolder, Runtime(parse));
        try
        {
            return (new TextGenerator(lm, TextTokenizer.FromFolder(modelFolder), ownsModel: true, adapter), options);
        }
        catch
        {
            lm.Dispose();
            throw;
        }
    }
}

/// <summary>The --ep words and the library's execution targets.</summary>
internal static class ExecutionTargets
{
    public static ExecutionTarget Parse(string word) => word switch
    {
        "cpu" => ExecutionTarget.Cpu,
        "cuda" => ExecutionTarget.Cuda,
        "tensorrt" => ExecutionTarget.TensorRt,
        _ => throw new UsageException($"--ep '{word}' is not one of: cpu, cuda, tensorrt"),
    };
}
