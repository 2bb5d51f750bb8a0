namespace OpenWeights.Onnx.Hub;

/// <summary>A repo at a commit, as files on disk: <c>snapshots/{commit}</c> in the hub cache.</summary>
/// <param name="Downloaded">Files fetched by this pull.</param>
/// <param name="Cached">Files that were already in the cache (no download).</param>
/// <param name="BytesDownloaded">Bytes received by this pull.</param>
public sealed record HubSnapshot(HubRepoId Repo, string Commit, string Folder, int Downloaded, int Cached, long BytesDownloaded);
