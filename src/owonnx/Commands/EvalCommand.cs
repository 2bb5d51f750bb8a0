using System.CommandLine;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Evaluation;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary><c>owonnx eval &lt;model&gt; --text &lt;file&gt;</c>: perplexity, and agreement with a reference model.</summary>
internal static class EvalCommand
{
    public static Command Create(Interrupts interrupts)
    {
        var modelArgument = new Argument<string>("model") { Description = "Converted model folder" }.RejectingOptions("eval");
        var textOption = new Option<string>("--text") { Description = "UTF-8 text file to score", Required = true };
        var windowOption = CliOptions.Int("--window", "Tokens per independent window. Protocol: " + PerplexityEvaluator.Protocol, 256, 2);
        var compareOption = CliOptions.Text("--compare", "Reference model folder (e.g. the FP32 conversion) for KL and top-1 agreement (default: none)");
        var jsonOption = CliOptions.Flag("--json", "Print the report as JSON");
        var threadsOption = CliOptions.OptionalInt("--threads", "ONNX Runtime intra-op threads (default: one per core)", 1, RuntimeOptions.MaxThreads);
        var epOption = CliOptions.Choice("--ep", "Execution provider for the model", "cpu", "cpu", "cuda", "tensorrt");
        var compareEpOption = CliOptions.Choice("--compare-ep", "Execution provider for the --compare reference (the CPU FP32 run is the yardstick)",
            "cpu", "cpu", "cuda", "tensorrt");
        var device = new DeviceOptionSet();
        var command = new Command("eval", "Perplexity of a converted model on a text; with --compare, KL divergence and top-1 agreement against a reference model.")
        {
            modelArgument, textOption, windowOption, compareOption, jsonOption, threadsOption, epOption, compareEpOption,
        };
        device.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(() =>
        {
            string model = parse.GetValue(modelArgument)!, text = parse.GetValue(textOption)!;
            int window = parse.GetValue(windowOption);
            string? compare = parse.GetValue(compareOption);
            bool json = parse.GetValue(jsonOption);
            int? threads = parse.GetValue(threadsOption);
            // A binary file (NUL bytes, invalid UTF-8) is refused: its perplexity would mean nothing.
            string content = TextFile.ReadUtf8(text);
            var runtime = new RuntimeOptions
            {
                MaxLength = window, Threads = threads, ExecutionProvider = ExecutionTargets.Parse(parse.GetValue(epOption)!), Gpu = device.Read(parse),
            };
            var referenceRuntime = runtime with { ExecutionProvider = ExecutionTargets.Parse(parse.GetValue(compareEpOption)!) };
            using var lm = LanguageModel.Load(model, runtime);
            using var reference = compare is null ? null : LanguageModel.Load(compare, referenceRuntime);
            var tokenizer = TextTokenizer.FromFolder(model);
            using var line = new ProgressLine();
            var report = PerplexityEvaluator.Run(lm, tokenizer, content, window, reference,
                new SyncProgress<(int Done, int Total)>(p => line.Update($"eval {ProgressLine.Bar((double)p.Done / p.Total)} {p.Done}/{p.Total} windows")),
                interrupts.Token);
            line.Dispose();
            if (json)
            {
                Console.WriteLine(CliJson.Serialize(report));
                return Task.FromResult(CliErrors.Success);
            }
            Console.WriteLine($"model        {report.Model}");
            Console.WriteLine($"text         {report.Tokens} tokens, {report.Windows} windows of {report.Window}, {report.Predictions} predictions");
            Console.WriteLine($"perplexity   {report.Perplexity:F4} (mean NLL {report.MeanNll:F6})");
            if (report.Reference is not null)
            {
                Console.WriteLine($"reference    {report.Reference}: perplexity {report.ReferencePerplexity:F4} " +
                                  $"({(report.Perplexity / report.ReferencePerplexity!.Value - 1):+0.00%;-0.00%})");
                Console.WriteLine($"KL           {report.MeanKlDivergence:F6} nats (mean, reference ‖ model)");
                Console.WriteLine($"top-1        {report.Top1Agreement:P2} agreement");
            }
            return Task.FromResult(CliErrors.Success);
        }));
        return command;
    }
}
