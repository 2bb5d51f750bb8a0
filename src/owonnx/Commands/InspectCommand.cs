using System.CommandLine;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Inspection;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary><c>owonnx inspect &lt;path&gt;</c>: what a checkpoint or a converted model holds.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "Checkpoint or converted model folder" }.RejectingOptions("inspect");
        var json = CliOptions.Flag("--json", "Print the summary as JSON");
        var command = new Command("inspect", "Describe a checkpoint folder or a converted model folder.") { path, json };
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(() =>
        {
            string folder = parse.GetValue(path)!;
            bool asJson = parse.GetValue(json);
            if (File.Exists(Path.Combine(folder, "model.onnx")))
            {
                var summary = OnnxModelSummary.Read(folder);
                if (asJson) Console.WriteLine(CliJson.Serialize(summary));
                else PrintModel(summary);
            }
            else if (File.Exists(Path.Combine(folder, "config.json")))
            {
                var summary = CheckpointSummary.Read(folder);
                if (asJson) Console.WriteLine(CliJson.Serialize(summary));
                else PrintCheckpoint(summary);
            }
            else
                throw new IOException($"{folder}: neither a converted model (model.onnx) nor a checkpoint (config.json) (give a folder with one of them)");
            return Task.FromResult(CliErrors.Success);
        }));
        return command;
    }

    private static void PrintCheckpoint(CheckpointSummary s)
    {
        Console.WriteLine($"checkpoint    {s.Directory}");
        Console.WriteLine($"architecture  {s.Architecture}");
        Console.WriteLine($"parameters    {s.Parameters:N0} ({s.Bytes / 1048576.0:F1} MiB in {s.TensorCount} tensors)");
        Console.WriteLine($"dtypes        {string.Join(", ", s.TensorsByDType.Select(kv => $"{kv.Key}: {kv.Value}"))}");
        Console.WriteLine($"shards        {string.Join(", ", s.Shards)}");
        foreach (var (key, value) in s.Config)
            Console.WriteLine($"  {key,-26}{value}");
    }

    private static void PrintModel(OnnxModelSummary s)
    {
        Console.WriteLine($"model         {s.Directory}");
        foreach (var (key, value) in s.Metadata)
            Console.WriteLine($"  {key,-26}{value}");
        Console.WriteLine($"weights       {s.Initializers} initializers; " +
                          $"external data {s.ExternalDataBytes / 1048576.0:F2} MiB; model.onnx {s.ModelFileBytes / 1024.0:F0} KiB");
        if (s.BitsPerWeight is { } bits)
            Console.WriteLine($"bits/weight   {bits:F2}");
        Console.WriteLine("size by component");
        long total = s.BytesByComponent.Values.Sum();
        foreach (var (component, bytes) in s.BytesByComponent)
            Console.WriteLine($"  {component,-26}{bytes / 1048576.0,9:F2} MiB {(double)bytes / total,7:P1}");
        Console.WriteLine("inputs");
        foreach (var t in s.Inputs)
            Console.WriteLine($"  {t.Name,-32}{t.ElementType,-9}{t.Shape}");
        Console.WriteLine("outputs");
        foreach (var t in s.Outputs)
            Console.WriteLine($"  {t.Name,-32}{t.ElementType,-9}{t.Shape}");
        Console.WriteLine("operators");
        foreach (var (op, count) in s.OperatorCounts)
            Console.WriteLine($"  {op,-48}{count}");
    }
}
