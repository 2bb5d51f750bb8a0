using Cocona;
using OpenWeights.Onnx.Evaluation;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Cli.Commands;

public sealed class EvalCommand
{
    [Command("eval", Description = "Perplexity of a converted model on a text; with --compare, KL divergence and top-1 agreement against a reference model.")]
    public int Eval(
        [FromService] CoconaAppContext context,
        [Argument(Description = "Converted model folder")] string model,
        DeviceParameters device,
        [Option(Description = "UTF-8 text file to score")] string text,
        [Option(Description = "Tokens per independent window. Protocol: " + PerplexityEvaluator.Protocol)] int window = 256,
        [Option(Description = "Reference model folder (e.g. the FP32 conversion) for KL and top-1 agreement")] string? compare = null,
        [Option(Description = "Print the report as JSON")] bool json = false,
        [Option(Description = "Intra-op threads (default: one per core)")] int? threads = null,
        [Option(Description = "Execution provider for the model: cpu, cuda, tensorrt")] string ep = "cpu",
        [Option("compare-ep", Description = "Execution provider for the --compare reference (default cpu: the CPU FP32 run is the yardstick)")] string compareEp = "cpu")
    {
        return CliErrors.Run(() =>
        {
            string content = TextFile.ReadUtf8(text);
            var runtime = new RuntimeOptions
            {
                MaxLength = window, Threads = threads, ExecutionProvider = CliParse.Target(ep), Gpu = device.ToGpuOptions(),
            };
            var referenceRuntime = runtime with { ExecutionProvider = CliParse.Target(compareEp) };
            using var lm = LanguageModel.Load(model, runtime);
            using var reference = compare is null ? null : LanguageModel.Load(compare, referenceRuntime);
            var tokenizer = TextTokenizer.FromFolder(model);
            using var line = new ProgressLine();
            var report = PerplexityEvaluator.Run(lm, tokenizer, content, window, reference,
                new SyncProgress<(int Done, int Total)>(p => line.Update($"eval {ProgressLine.Bar((double)p.Done / p.Total)} {p.Done}/{p.Total} windows")),
                context.CancellationToken);
            line.Dispose();
            if (json)
            {
                Console.WriteLine(CliJson.Serialize(report));
                return 0;
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
            return 0;
        });
    }
}
