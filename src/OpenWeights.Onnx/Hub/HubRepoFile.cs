namespace OpenWeights.Onnx.Hub;

/// <summary>One file of a repo at a commit, as the revision API lists it.</summary>
/// <param name="Path">Path inside the repo ('/'-separated): <c>rfilename</c>.</param>
/// <param name="Size">Size in bytes (for LFS files the real file, not the pointer), when listed.</param>
/// <param name="Sha256">The LFS object's sha256 (<c>lfs.sha256</c>); null for files stored in git itself.</param>
public sealed record HubRepoFile(string Path, long? Size, string? Sha256)
{
    public bool IsLfs => Sha256 is not null;
}
