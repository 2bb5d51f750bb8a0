using System.Text.RegularExpressions;

namespace OpenWeights.Onnx.Hub;

/// <summary>
/// One repo's folder in the shared hub cache, laid out as huggingface_hub lays it out:
/// <c>blobs/{etag}</c> holds each file's bytes once, <c>snapshots/{commit}/{path}</c> links to them, and
/// <c>refs/{revision}</c> holds the commit a branch or tag pointed to when last seen (40 hex digits, no newline).
/// </summary>
public sealed partial class HubCache(string cacheDirectory, HubRepoId repo)
{
    public HubRepoId Repo { get; } = repo;
    public string RepoFolder { get; } = Path.Combine(cacheDirectory, repo.CacheFolderName);

    public string BlobsFolder => Path.Combine(RepoFolder, "blobs");
    public string Blob(string etag) => Path.Combine(BlobsFolder, CheckedEtag(etag));

    /// <summary>A download in progress; kept when interrupted so the next pull resumes it with a Range request.</summary>
    public string IncompleteBlob(string etag) => Blob(etag) + ".incomplete";

    public string Snapshot(string commit) => Path.Combine(RepoFolder, "snapshots", CheckedCommit(commit));

    public string SnapshotFile(string commit, string repoPath)
    {
        string folder = Snapshot(commit);
        string path = Path.GetFullPath(Path.Combine(folder, repoPath));
        if (!path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new HubException($"{Repo}: the Hub listed a file '{repoPath}' outside the repository; refusing to write it.");
        return path;
    }

    public string RefFile(string revision) => Path.Combine(RepoFolder, "refs", revision);

    public static bool IsCommitHash(string revision) => CommitPattern().IsMatch(revision);

    /// <summary>The commit a revision names, from the revision itself or its <c>refs/</c> file; null when unknown here.</summary>
    public string? ResolveCommit(string revision)
    {
        if (IsCommitHash(revision))
            return revision;
        string refFile = RefFile(revision);
        if (!File.Exists(refFile))
            return null;
        string commit = File.ReadAllText(refFile).Trim();
        return IsCommitHash(commit) ? commit : null;
    }

    /// <summary>Records that <paramref name="revision"/> pointed to <paramref name="commit"/>: written whole or not at all.</summary>
    public void WriteRef(string revision, string commit)
    {
        if (revision == commit)
            return;
        string refFile = RefFile(revision);
        if (File.Exists(refFile) && File.ReadAllText(refFile) == commit)
            return;
        Directory.CreateDirectory(Path.GetDirectoryName(refFile)!);
        string temporary = $"{refFile}.{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temporary, commit);
        File.Move(temporary, refFile, overwrite: true);
    }

    private string CheckedCommit(string commit) => IsCommitHash(commit)
        ? commit
        : throw new HubException($"{Repo}: '{commit}' is not a commit hash (40 hex digits).");

    // ETags name files: a quote, slash or ".." must never reach the file system.
    private string CheckedEtag(string etag) => EtagPattern().IsMatch(etag)
        ? etag
        : throw new HubException($"{Repo}: the Hub sent an unusable ETag '{etag}'.");

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,128}$")]
    private static partial Regex EtagPattern();
}
