using Cocona;
using OpenWeights.Onnx.Hub;

namespace OpenWeights.Onnx.Cli.Commands;

public sealed class PullCommand
{
    [Command("pull", Description = "Download a model from the Hugging Face Hub into its shared cache (HF_HUB_CACHE, else $HF_HOME/hub); prints the snapshot folder.")]
    public Task<int> Pull(
        [FromService] CoconaAppContext context,
        [Argument(Description = "Hub model id: org/name or org/name@revision (branch, tag or commit)")] string model,
        [Option(Description = "Download only files matching this glob (repeatable; replaces the default set of config, safetensors, tokenizer, template and licence files)")] string[]? include = null,
        [Option(Description = "Skip files matching this glob (repeatable)")] string[]? exclude = null)
    {
        return CliErrors.RunAsync(async () =>
        {
            var repo = HubRepoId.Parse(model);
            var selection = new HubFileSelection(include, exclude);
            using var puller = new HubPuller(HubSettings.FromEnvironment());
            using var display = new PullDisplay();
            HubSnapshot snapshot;
            try
            {
                snapshot = await puller.PullAsync(repo, selection, display, context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                display.Dispose();
                // Unlike a conversion, a cancelled pull keeps what it downloaded: that is what makes resuming possible.
                Console.Error.WriteLine("owonnx: pull cancelled; complete files stay in the cache and the next pull resumes the partial ones.");
                return CliErrors.Cancelled;
            }
            display.Dispose();
            Console.Error.WriteLine($"{snapshot.Repo} at {snapshot.Commit[..12]}: {snapshot.Downloaded} file(s) downloaded " +
                                    $"({snapshot.BytesDownloaded / 1048576.0:F1} MiB), {snapshot.Cached} already cached.");
            Console.WriteLine(snapshot.Folder);
            return 0;
        });
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
