using Cocona;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Quantization;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>Block quantization options of convert; all optional, defaults in ConversionOptions.DefaultQuantization.</summary>
public sealed record QuantizationParameters(
    [Option("block-size", Description = "int8/int4: weights per scale along K, a power of two from 16 to 256 (default 32)")] int? BlockSize = null,
    [Option(Description = "int8/int4: store a zero point per block (default symmetric)")] bool Asymmetric = false,
    [Option("accuracy-level", Description = "int8/int4: MatMulNBits accuracy_level 0-4 (default 4: int8 activations, the fast CPU path)")] int? AccuracyLevel = null,
    [Option("quant-method", Description = "int8/int4: rtn (round to nearest) or mse (per-block scale search, default)")] string? QuantMethod = null,
    [Option("lm-head", Description = "int8/int4: LM head precision: float, int8 (default) or int4")] string? LmHead = null,
    [Option(Description = "int8/int4: token table precision: float, int8 (default on CPU) or int4")] string? Embedding = null) : ICommandParameterSet
{
    private bool Any => BlockSize is not null || Asymmetric || AccuracyLevel is not null || QuantMethod is not null
                        || LmHead is not null || Embedding is not null;

    /// <summary>Null when no option was given (the conversion's defaults apply).</summary>
    public QuantizationOptions? ToOptions(ConversionOptions conversion)
    {
        if (!Any)
            return null;
        var d = conversion.DefaultQuantization;
        return d with
        {
            BlockSize = BlockSize ?? d.BlockSize,
            Symmetric = !Asymmetric,
            AccuracyLevel = AccuracyLevel ?? d.AccuracyLevel,
            Method = QuantMethod switch
            {
                null => d.Method,
                "rtn" => QuantizationMethod.Rtn,
                "mse" => QuantizationMethod.MseSearch,
                _ => throw new ArgumentException($"--quant-method '{QuantMethod}' is not one of: rtn, mse."),
            },
            LmHeadBits = LmHead is null ? d.LmHeadBits : Bits("--lm-head", LmHead),
            Embedding = Embedding is null ? d.Embedding : Bits("--embedding", Embedding) switch
            {
                8 => EmbeddingPrecision.Int8,
                4 => EmbeddingPrecision.Int4,
                _ => EmbeddingPrecision.Float,
            },
        };
    }

    private static int? Bits(string option, string value) => value switch
    {
        "float" => null,
        "int8" => 8,
        "int4" => 4,
        _ => throw new ArgumentException($"{option} '{value}' is not one of: float, int8, int4."),
    };
}

public sealed class ConvertCommand
{
    [Command("convert", Description = "Convert a Hugging Face checkpoint folder (config.json + *.safetensors), or a Hub model id org/name[@revision], to an ONNX model folder.")]
    public int Convert(
        [FromService] CoconaAppContext context,
        [Option('o', Description = "Output folder (written atomically)")] string output,
        QuantizationParameters quantization,
        [Argument(Description = "Checkpoint folder, or Hub model id org/name[@revision] (from the cache, else pulled; a folder of that name wins)")] string? checkpoint = null,
        [Option(Description = "Weight precision: fp32, fp16, int8, int4")] string precision = "fp32",
        [Option(Description = "Execution provider the model is built for: cpu, cuda, tensorrt")] string ep = "cpu",
        [Option(Description = "Prompt logits: last (each row's last position: faster prefill, enough for generation) or all (every position: needed by eval)")] string logits = "last",
        [Option(Description = "Replace an existing output folder (only an empty one or a previous owonnx output)")] bool overwrite = false,
        [Option("allow-nonfinite", Description = "Convert weights holding NaN or infinity (with a warning) instead of refusing them")] bool allowNonFinite = false,
        [Option(Description = "Convert the built-in sample model (fortune-llama) instead of a folder")] bool sample = false,
        [Option(Description = "PEFT LoRA adapter folder to merge into the weights (repeatable; merged in order)")] string[]? lora = null,
        [Option("adapter-inputs", Description = "Give the graph inputs for run-time LoRA adapters ('owonnx adapter', run/serve --adapter)")] bool adapterInputs = false,
        [Option("lora-scale", Description = "Multiplier of each --lora's own scale α/r: one for all, or one per --lora (default 1)")] float[]? loraScale = null)
    {
        return CliErrors.Run(() =>
        {
            var options = new ConversionOptions
            {
                Precision = CliParse.Enum<Precision>("--precision", precision),
                Target = CliParse.Target(ep),
                Logits = CliParse.Enum<LogitsScope>("--logits", logits),
                Overwrite = overwrite,
                AllowNonFinite = allowNonFinite,
                Adapters = Adapters(lora ?? [], loraScale ?? []),
                AdapterInputs = adapterInputs,
            };
            options = options with { Quantization = quantization.ToOptions(options) };
            options.Validate();
            string source = HubArgument.ResolveCheckpoint(Sample.ResolveCheckpoint(checkpoint, sample), context.CancellationToken);

            using var line = new ProgressLine();
            // Progress<T> would post to the thread pool; a synchronous reporter keeps the line in order.
            var result = new ModelConverter(KnownFamilies.All).Convert(source, output, options,
                new SyncProgress<ConversionProgress>(p => line.Update(
                    $"converting {ProgressLine.Bar(p.Fraction)} {p.Fraction,4:P0} " +
                    $"{p.Tensors} tensors, {p.Bytes / 1048576.0:F1} MiB")),
                context.CancellationToken);
            line.Dispose();
            foreach (string tensor in result.NonFiniteTensors)
                Console.Error.WriteLine($"owonnx: warning: tensor '{tensor}' holds NaN or infinity; the model will likely produce garbage.");
            Console.WriteLine(result.Summary);
            return 0;
        });
    }

    private static List<AdapterMerge> Adapters(string[] folders, float[] scales)
    {
        if (scales.Length > 0 && folders.Length == 0)
            throw new ArgumentException("--lora-scale needs a --lora adapter to scale.");
        if (scales.Length > 1 && scales.Length != folders.Length)
            throw new ArgumentException($"--lora-scale was given {scales.Length} times for {folders.Length} --lora adapters; give it once (for all) or once per adapter.");
        return folders.Select((f, i) => new AdapterMerge(f, scales.Length == 0 ? 1f : scales[Math.Min(i, scales.Length - 1)])).ToList();
    }
}

internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
