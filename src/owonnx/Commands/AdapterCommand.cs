using System.CommandLine;
using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Cli.CommandLine;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary><c>owonnx adapter &lt;peft-folder&gt; --base &lt;model&gt; -o &lt;file&gt;</c>: a LoRA adapter for run-time use.</summary>
internal static class AdapterCommand
{
    public static Command Create()
    {
        var adapter = new Argument<string>("adapter") { Description = "PEFT adapter folder (adapter_config.json + adapter_model.safetensors)" }
            .RejectingOptions("adapter");
        var baseModel = new Option<string>("--base") { Description = "The converted base model folder the adapter is for", Required = true };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Output file (.safetensors), or an existing folder to write <adapter-name>.safetensors into",
            Required = true,
        };
        var scale = CliOptions.Double("--scale", "Multiplier of the adapter's own scale α/r", 1, s => s is > -1e6 and < 1e6, "a number such as 0.5 or 1");
        var command = new Command("adapter",
            "Prepare a PEFT LoRA adapter folder for run-time use over a base converted with --adapter-inputs " +
            "(run/chat --adapter FILE, serve --adapter NAME=FILE).")
        {
            adapter, baseModel, output, scale,
        };
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(() =>
        {
            var result = AdapterPreparation.Prepare(parse.GetValue(adapter)!, parse.GetValue(baseModel)!, parse.GetValue(output)!, (float)parse.GetValue(scale));
            Console.WriteLine($"{result.Path}: {result.Layers} adapted layers, rank {result.Rank}, {result.Bytes / 1048576.0:F2} MiB");
            return Task.FromResult(CliErrors.Success);
        }));
        return command;
    }
}
