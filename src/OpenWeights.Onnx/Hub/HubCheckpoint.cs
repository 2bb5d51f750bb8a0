namespace OpenWeights.Onnx.Hub;

/// <summary>
/// What a checkpoint argument names: an existing folder always wins; otherwise <c>org/name[@revision]</c> is
/// a Hub model, taken from the cache when its snapshot is complete (no request at all), else pulled.
/// </summary>
public static class HubCheckpoint
{
    /// <summary>True when <paramref name="argument"/> is not a folder here but is shaped like a Hub model id.</summary>
    public static bool NamesHubModel(string argument) => !Directory.Exists(argument) && HubRepoId.TryParse(argument) is not null;

    /// <summary>The folder to convert from; <paramref name="argument"/> itself when it is not a Hub model id.</summary>
    public static async Task<string> ResolveAsync(string argument, HubSettings settings,
        IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!NamesHubModel(argument))
            return argument;
        var repo = HubRepoId.Parse(argument);
        var cache = new HubCache(settings.CacheDirectory, repo);
        if (cache.ResolveCommit(repo.Revision) is { } commit && CachedCheckpoint.IsComplete(cache.Snapshot(commit)))
            return cache.Snapshot(commit);
        if (settings.Offline)
            throw new HubException($"'{argument}' is not a folder here, and as a Hub model it is not (completely) in the cache " +
                                   $"({cache.RepoFolder}) while HF_HUB_OFFLINE is set. Unset HF_HUB_OFFLINE to pull it.");
        using var puller = new HubPuller(settings);
        HubSnapshot snapshot;
        try
        {
            snapshot = await puller.PullAsync(repo, HubFileSelection.Default, progress, cancellationToken);
        }
        catch (HubException e)
        {
            // The user may have meant a folder: say that none exists before what the Hub said.
            throw new HubException($"'{argument}' is not a folder here; as a Hub model: {e.Message}", e);
        }
        return CachedCheckpoint.IsComplete(snapshot.Folder)
            ? snapshot.Folder
            : throw new HubException($"{repo}: pulled to {snapshot.Folder}, but it holds no config.json and safetensors weights to convert.");
    }
}
