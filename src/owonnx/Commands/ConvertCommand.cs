using Cocona;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;

namespace OpenWeights.Onnx.Cli.Commands;

public sealed class ConvertCommand
{
    [Command("convert", Description = "Convert a Hugging Face checkpoint folder (config.json + *.safetensors) to an ONNX model folder.")]
    public int Convert(
        [Option('o', Description = "Output folder (written atomically)")] string output,
        [Argument(Description = "Checkpoint folder")] string? checkpoint = null,
        [Option(Description = "Weight precision: fp32, fp16")] string precision = "fp32",
        [Option(Description = "Execution provider the model is built for: cpu, cuda, tensorrt")] string ep = "cpu",
        [Option(Description = "Replace an existing output folder")] bool overwrite = false,
        [Option(Description = "Convert the built-in sample model (fortune-llama) instead of a folder")] bool sample = false,
        CoconaAppContext? context = null)
    {
        return CliErrors.Run(() =>
        {
            var options = new ConversionOptions
            {
                Precision = CliParse.Enum<Precision>("--precision", precision),
                Target = CliParse.Target(ep),
                Overwrite = overwrite,
            };
            options.Validate();

            using var line = new ProgressLine();
            // Progress<T> would post to the thread pool; a synchronous reporter keeps the line in order.
            var result = new ModelConverter(KnownFamilies.All).Convert(Sample.ResolveCheckpoint(checkpoint, sample), output, options,
                new SyncProgress<ConversionProgress>(p => line.Update(
                    $"converting {ProgressLine.Bar(p.ExpectedTensors == 0 ? 0 : (double)p.Tensors / p.ExpectedTensors)} " +
                    $"{p.Tensors}/{p.ExpectedTensors} tensors, {p.Bytes / 1048576.0:F1} MiB")),
                context?.CancellationToken ?? default);
            line.Dispose();
            Console.WriteLine(result.Summary);
            return 0;
        });
    }
}

internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
