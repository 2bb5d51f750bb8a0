namespace OpenWeights.Onnx.Hub;

/// <summary>
/// What a <c>HEAD {endpoint}/{repo}/resolve/{commit}/{file}</c> says about a file: the commit
/// (<c>X-Repo-Commit</c>), the blob name (<c>X-Linked-Etag</c> for LFS files — their sha256 — else
/// <c>ETag</c>, the git blob id; quotes and a weak <c>W/</c> prefix removed), the size (<c>X-Linked-Size</c>,
/// else <c>Content-Length</c>) and where to download it (the storage redirect's <c>Location</c>, else the same address).
/// </summary>
public sealed record HubFileMetadata(string? Commit, string Etag, long? Size, Uri Location)
{
    /// <summary>huggingface_hub's normalisation: <c>W/"abc"</c> and <c>"abc"</c> both name blob <c>abc</c>.</summary>
    public static string? NormalizeEtag(string? etag)
    {
        if (etag is null)
            return null;
        string value = etag.Trim();
        if (value.StartsWith("W/", StringComparison.Ordinal))
            value = value[2..];
        return value.Trim('"');
    }
}
