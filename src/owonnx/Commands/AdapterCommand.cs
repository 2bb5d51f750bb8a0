using Cocona;
using OpenWeights.Onnx.Adapters;

namespace OpenWeights.Onnx.Cli.Commands;

public sealed class AdapterCommand
{
    [Command("adapter", Description = "Prepare a PEFT LoRA adapter folder for run-time use over a base converted with --adapter-inputs " +
                                      "(run/chat --adapter FILE, serve --adapter NAME=FILE).")]
    public int Prepare(
        [Argument(Description = "PEFT adapter folder (adapter_config.json + adapter_model.safetensors)")] string adapter,
        [Option("base", Description = "The converted base model folder the adapter is for")] string baseModel,
        [Option('o', Description = "Output file (.safetensors), or an existing folder to write <adapter-name>.safetensors into")] string output,
        [Option(Description = "Multiplier of the adapter's own scale α/r (default 1)")] float scale = 1f)
    {
        return CliErrors.Run(() =>
        {
            var result = AdapterPreparation.Prepare(adapter, baseModel, output, scale);
            Console.WriteLine($"{result.Path}: {result.Layers} adapted layers, rank {result.Rank}, {result.Bytes / 1048576.0:F2} MiB");
            return 0;
        });
    }
}
