namespace OpenWeights.Onnx.Hub;

/// <summary>
/// Brings a repo revision into the hub cache: resolve the revision to a commit, choose the files, and for each
/// one not yet in <c>snapshots/{commit}</c>, learn its blob name, download the blob if missing, and link it in.
/// Several files download at once. The snapshot only ever holds complete, verified files, and <c>refs/</c>
/// moves to the new commit once every file is in place, so an interrupted pull leaves a consistent cache.
/// </summary>
public sealed class HubPuller : IDisposable
{
    private readonly HubHttp _http;
    private readonly HubApi _api;
    private readonly BlobDownloader _downloader;

    public HubPuller(HubSettings settings, HttpMessageHandler? handler = null)
    {
        Settings = settings;
        _http = new HubHttp(settings, handler);
        _api = new HubApi(_http);
        _downloader = new BlobDownloader(_http);
    }

    public HubSettings Settings { get; }

    public async Task<HubSnapshot> PullAsync(HubRepoId repo, HubFileSelection? selection = null,
        IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var cache = new HubCache(Settings.CacheDirectory, repo);
        if (Settings.Offline)
            return FromCacheOffline(cache);

        var revision = await _api.GetRevisionAsync(repo, cancellationToken);
        var files = (selection ?? HubFileSelection.Default).Select(repo, revision.Files);
        // huggingface_hub's cache scanner calls a repo folder without snapshots/ corrupted: make it before any blob.
        Directory.CreateDirectory(cache.Snapshot(revision.Commit));
        var counter = new PullProgressCounter(progress, files.Count);
        int downloaded = 0;
        long bytes = 0;
        await Parallel.ForEachAsync(files,
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Settings.ParallelDownloads), CancellationToken = cancellationToken },
            async (file, token) =>
            {
                long? fetched = await EnsureFileAsync(cache, revision.Commit, file, counter, token);
                if (fetched is { } n)
                {
                    Interlocked.Increment(ref downloaded);
                    Interlocked.Add(ref bytes, n);
                }
                counter.FileDone(file.Path);
            });
        cache.WriteRef(repo.Revision, revision.Commit);
        return new HubSnapshot(repo, revision.Commit, cache.Snapshot(revision.Commit), downloaded, files.Count - downloaded, bytes);
    }

    /// <summary>The bytes downloaded; null when nothing was (the file was in the snapshot, or its blob in the cache).</summary>
    private async Task<long?> EnsureFileAsync(HubCache cache, string commit, HubRepoFile file, PullProgressCounter counter,
        CancellationToken cancellationToken)
    {
        string pointer = cache.SnapshotFile(commit, file.Path);
        if (File.Exists(pointer))
            return null;
        var metadata = await _api.GetFileMetadataAsync(cache.Repo, commit, file.Path, cancellationToken);
        if (metadata.Commit is { } served && served != commit)
            throw new HubException($"{cache.Repo}: {file.Path}: the Hub served commit {served} while resolving {commit}.");
        string blob = cache.Blob(metadata.Etag);
        long? received = null;
        if (!File.Exists(blob))
        {
            string incomplete = cache.IncompleteBlob(metadata.Etag);
            long before = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
            // Resumed bytes count on both sides of the display: done and total.
            counter.AddExpected(metadata.Size ?? file.Size ?? 0);
            await _downloader.DownloadAsync(cache, file, metadata, counter, cancellationToken);
            received = new FileInfo(blob).Length - before;
        }
        SnapshotLinker.Link(blob, pointer);
        return received;
    }

    private HubSnapshot FromCacheOffline(HubCache cache)
    {
        string? commit = cache.ResolveCommit(cache.Repo.Revision);
        if (commit is null || !Directory.Exists(cache.Snapshot(commit)))
            throw new HubException($"{cache.Repo} is not in the cache ({cache.RepoFolder}) and HF_HUB_OFFLINE is set, " +
                                   "so owonnx may not download it. Unset HF_HUB_OFFLINE to pull it.");
        int files = Directory.EnumerateFiles(cache.Snapshot(commit), "*", SearchOption.AllDirectories).Count();
        return new HubSnapshot(cache.Repo, commit, cache.Snapshot(commit), 0, files, 0);
    }

    public void Dispose() => _http.Dispose();
}
