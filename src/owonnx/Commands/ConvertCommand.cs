using System.CommandLine;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Quantization;
using OpenWeights.Onnx.Weights;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary><c>owonnx convert &lt;checkpoint&gt; --output &lt;dir&gt;</c>: a Hugging Face checkpoint folder to an ONNX model folder.</summary>
internal static class ConvertCommand
{
    public static Command Create(Interrupts interrupts)
    {
        var checkpoint = new Argument<string?>("checkpoint") { Description = "Checkpoint folder (config.json + *.safetensors), or Hub model id org/name[@revision] (from the cache, else pulled; a folder of that name wins)", Arity = ArgumentArity.ZeroOrOne }
            .RejectingOptions("convert");
        var output = new Option<string>("--output", "-o") { Description = "Output folder (written under a temporary name, moved into place when complete)", Required = true };
        var precision = CliOptions.Choice("--precision", "Weight precision", "fp32", "fp32", "fp16", "int8", "int4");
        var ep = CliOptions.Choice("--ep", "Execution provider the model is built for", "cpu", "cpu", "cuda", "tensorrt");
        var logits = CliOptions.Choice("--logits",
            "Prompt logits: last (each row's last position: faster prefill, enough for generation) or all (every position: needed by eval)",
            "last", "last", "all");
        var compute = CliOptions.Choice("--compute",
            "What the graph computes in (default fp32 for cpu, fp16 for cuda/tensorrt; bf16 has fp32's range, for models that overflow fp16)",
            null, "fp32", "fp16", "bf16");
        var overwrite = CliOptions.Flag("--overwrite", "Replace an existing output folder (only an empty one or a previous owonnx output)");
        var allowNonFinite = CliOptions.Flag("--allow-nonfinite", "Convert weights holding NaN or infinity (with a warning) instead of refusing them");
        var sample = CliOptions.Flag("--sample", "Convert the built-in sample model (fortune-llama) instead of a folder");
        var lora = new Option<string[]>("--lora")
        {
            Description = "PEFT LoRA adapter folder to merge into the weights; repeatable, merged in order (default: none)",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var loraScale = new Option<float[]>("--lora-scale")
        {
            Description = "Multiplier of each --lora's own scale α/r: one for all, or one per --lora (default: 1)",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
            CustomParser = r => r.Tokens.Select(t =>
                float.TryParse(t.Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out float v) && float.IsFinite(v)
                    ? v
                    : Failed(r, $"{CliOptions.Typed(r, "--lora-scale")} '{t.Value}' is not a number (use e.g. 0.5 or 1)")).ToArray(),
        };
        var adapterInputs = CliOptions.Flag("--adapter-inputs", "Give the graph inputs for run-time LoRA adapters ('owonnx adapter', run/serve --adapter)");
        var quantization = new QuantizationOptionSet();
        var command = new Command("convert", "Convert a Hugging Face checkpoint folder (config.json + *.safetensors), or a Hub model id org/name[@revision], to an ONNX model folder.")
        {
            checkpoint, output, precision, ep, logits, compute, overwrite, allowNonFinite, sample, lora, loraScale, adapterInputs,
        };
        quantization.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(() =>
        {
            var options = new ConversionOptions
            {
                Precision = parse.GetValue(precision) switch
                {
                    "fp16" => Precision.Fp16,
                    "int8" => Precision.Int8,
                    "int4" => Precision.Int4,
                    _ => Precision.Fp32,
                },
                Target = ExecutionTargets.Parse(parse.GetValue(ep)!),
                Logits = parse.GetValue(logits) == "all" ? LogitsScope.All : LogitsScope.Last,
                Compute = parse.GetValue(compute) switch
                {
                    null => null,
                    "fp16" => ComputeType.Fp16,
                    "bf16" => ComputeType.Bf16,
                    _ => ComputeType.Fp32,
                },
                Overwrite = parse.GetValue(overwrite),
                AllowNonFinite = parse.GetValue(allowNonFinite),
                Adapters = Adapters(parse.GetValue(lora) ?? [], parse.GetValue(loraScale) ?? []),
                AdapterInputs = parse.GetValue(adapterInputs),
            };
            options = options with { Quantization = quantization.Read(parse, options) };
            options.Validate();
            if (options.Precision == Precision.Fp16 && options.Target == ExecutionTarget.Cpu)
                Console.Error.WriteLine(Fp16OnCpuWarning);
            string source = HubArgument.ResolveCheckpoint(Sample.ResolveCheckpoint(parse.GetValue(checkpoint), parse.GetValue(sample)), interrupts.Token);

            using var line = new ProgressLine();
            // Progress<T> would post to the thread pool; a synchronous reporter keeps the line in order.
            var result = new ModelConverter(KnownFamilies.All).Convert(source, parse.GetValue(output)!, options,
                new SyncProgress<ConversionProgress>(p => line.Update(
                    $"converting {ProgressLine.Bar(p.Fraction)} {p.Fraction,4:P0} " +
                    $"{p.Tensors} tensors, {p.Bytes / 1048576.0:F1} MiB")),
                interrupts.Token);
            line.Dispose();
            foreach (string tensor in result.NonFiniteTensors)
                Console.Error.WriteLine($"owonnx: warning: tensor '{tensor}' holds NaN or infinity (converted because of --allow-nonfinite; the model will likely produce garbage)");
            Console.WriteLine(result.Summary);
            return Task.FromResult(CliErrors.Success);
        }, afterCancel: "nothing was written"));
        return command;
    }

    private static float Failed(System.CommandLine.Parsing.ArgumentResult result, string message)
    {
        result.AddError(message);
        return 0;
    }

    /// <summary>Measured: see README, "Performance" (FP16 on the CPU).</summary>
    internal const string Fp16OnCpuWarning =
        "warning: --precision fp16 for the CPU halves the file, not the memory: ONNX Runtime's CPU kernels compute in " +
        "float32, so the weights are widened to float32 when the model loads (as much memory as fp32, and decode no faster). " +
        "On the CPU use int8 (+0.02 % perplexity on the sample, below llama.cpp Q8_0's +0.03 %; about a quarter of the " +
        "memory fp16 takes once loaded, and over twice its decode speed) or int4; fp16 is meant for --ep cuda.";

    private static List<AdapterMerge> Adapters(string[] folders, float[] scales)
    {
        if (scales.Length > 0 && folders.Length == 0)
            throw new UsageException("--lora-scale was given without a --lora adapter to scale (add --lora <folder>)");
        if (scales.Length > 1 && scales.Length != folders.Length)
            throw new UsageException($"--lora-scale was given {scales.Length} times for {folders.Length} --lora adapters " +
                                     "(give it once for all, or once per adapter)");
        return folders.Select((f, i) => new AdapterMerge(f, scales.Length == 0 ? 1f : scales[Math.Min(i, scales.Length - 1)])).ToList();
    }
}

/// <summary>Block quantization options of convert; all optional, defaults in ConversionOptions.DefaultQuantization.</summary>
internal sealed class QuantizationOptionSet
{
    private readonly Option<int?> _blockSize = CliOptions.OptionalInt("--block-size",
        "int8/int4: weights per scale along K, a power of two from 16 to 256 (default: 32 for int4, 128 for int8)", 16, 256);
    private readonly Option<bool> _asymmetric = CliOptions.Flag("--asymmetric", "int8/int4: store a zero point per block (default: symmetric)");
    private readonly Option<int?> _accuracyLevel = CliOptions.OptionalInt("--accuracy-level",
        "int8/int4: MatMulNBits accuracy_level 0-4 (default: 4, int8 activations, the fast CPU path)", 0, 4);
    private readonly Option<string> _method = CliOptions.Choice("--quant-method",
        "int8/int4: rtn (round to nearest) or mse (per-block scale search) (default: mse)", null, "rtn", "mse");
    private readonly Option<string> _lmHead = CliOptions.Choice("--lm-head", "int8/int4: LM head precision (default: int8)", null, "float", "int8", "int4");
    private readonly Option<string> _embedding = CliOptions.Choice("--embedding", "int8/int4: token table precision (default: int8 on CPU, else float)", null, "float", "int8", "int4");

    private Option[] All => [_blockSize, _asymmetric, _accuracyLevel, _method, _lmHead, _embedding];

    public void AddTo(Command command)
    {
        foreach (var option in All)
            command.Options.Add(option);
        _blockSize.Validators.Add(r =>
        {
            if (r.Tokens is [{ Value: var text }] && int.TryParse(text, out int size) && size is >= 16 and <= 256 && !int.IsPow2(size))
                r.AddError($"{r.IdentifierToken?.Value ?? "--block-size"} {size} is not a power of two (use 16, 32, 64, 128 or 256)");
        });
    }

    /// <summary>Null when no option was given (the conversion's defaults apply).</summary>
    public QuantizationOptions? Read(ParseResult parse, ConversionOptions conversion)
    {
        var given = All.Where(o => parse.GetResult(o) is { Implicit: false }).ToList();
        if (given.Count == 0)
            return null;
        if (!conversion.IsQuantized)
            throw new UsageException($"{CliOptions.Typed(parse, given[0])} applies to --precision int8 and int4, not " +
                                     $"{conversion.Precision.ToString().ToLowerInvariant()} (choose int8 or int4, or leave it out)");
        var d = conversion.DefaultQuantization;
        return d with
        {
            BlockSize = parse.GetValue(_blockSize) ?? d.BlockSize,
            FitExpertBlocks = parse.GetValue(_blockSize) is null,
            Symmetric = !parse.GetValue(_asymmetric),
            AccuracyLevel = parse.GetValue(_accuracyLevel) ?? d.AccuracyLevel,
            Method = parse.GetValue(_method) switch
            {
                "rtn" => QuantizationMethod.Rtn,
                "mse" => QuantizationMethod.MseSearch,
                _ => d.Method,
            },
            LmHeadBits = parse.GetValue(_lmHead) is { } head ? Bits(head) : d.LmHeadBits,
            Embedding = parse.GetValue(_embedding) switch
            {
                null => d.Embedding,
                "int8" => EmbeddingPrecision.Int8,
                "int4" => EmbeddingPrecision.Int4,
                _ => EmbeddingPrecision.Float,
            },
        };
    }

    private static int? Bits(string word) => word switch { "int8" => 8, "int4" => 4, _ => null };
}

internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
