using System.CommandLine;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Hub;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary><c>owonnx pull org/name[@revision]</c>: a model from the Hugging Face Hub into its shared cache.</summary>
internal static class PullCommand
{
    public static Command Create(Interrupts interrupts)
    {
        var model = new Argument<string>("model") { Description = "Hub model id: org/name or org/name@revision (branch, tag or commit)" }.RejectingOptions("pull");
        var include = new Option<string[]>("--include")
        {
            Description = "Download only files matching this glob; repeatable (default: config, safetensors, tokenizer, template and licence files)",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var exclude = new Option<string[]>("--exclude")
        {
            Description = "Skip files matching this glob; repeatable (default: none)",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("pull",
            "Download a model from the Hugging Face Hub into its shared cache (HF_HUB_CACHE, else $HF_HOME/hub); prints the snapshot folder.")
        {
            model, include, exclude,
        };
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(async () =>
        {
            var repo = HubRepoId.Parse(parse.GetValue(model)!);
            var selection = new HubFileSelection(parse.GetValue(include), parse.GetValue(exclude));
            using var puller = new HubPuller(HubSettings.FromEnvironment());
            using var display = new PullDisplay();
            var snapshot = await puller.PullAsync(repo, selection, display, interrupts.Token);
            display.Dispose();
            Console.Error.WriteLine($"{snapshot.Repo} at {snapshot.Commit[..12]}: {snapshot.Downloaded} file(s) downloaded " +
                                    $"({snapshot.BytesDownloaded / 1048576.0:F1} MiB), {snapshot.Cached} already cached.");
            Console.WriteLine(snapshot.Folder);
            return CliErrors.Success;
        }, afterCancel: "what was downloaded stays in the cache and resumes next time"));
        return command;
    }
}

/// <summary>One progress line for all of a pull's parallel downloads (the counter serialises reports).</summary>
internal sealed class PullDisplay : IProgress<PullProgress>, IDisposable
{
    private readonly ProgressLine _line = new();

    public void Report(PullProgress p)
    {
        double fraction = p.BytesTotal > 0 ? (double)p.BytesDone / p.BytesTotal : p.FilesTotal > 0 ? (double)p.FilesDone / p.FilesTotal : 0;
        _line.Update($"pulling {ProgressLine.Bar(fraction)} {fraction,4:P0} {p.FilesDone}/{p.FilesTotal} files, " +
                     $"{p.BytesDone / 1048576.0:F1}/{p.BytesTotal / 1048576.0:F1} MiB", force: p.FilesDone == p.FilesTotal);
    }

    public void Dispose() => _line.Dispose();
}
