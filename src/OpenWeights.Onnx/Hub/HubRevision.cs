using System.Text.Json;

namespace OpenWeights.Onnx.Hub;

/// <summary>
/// A revision resolved by <c>GET /api/models/{repo}/revision/{revision}?blobs=true</c>: the commit (<c>sha</c>)
/// and the files (<c>siblings[].rfilename</c>, with <c>size</c> and <c>lfs.{sha256,size}</c> for LFS files).
/// </summary>
public sealed record HubRevision(string Commit, IReadOnlyList<HubRepoFile> Files)
{
    public static HubRevision Parse(HubRepoId repo, string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            string commit = root.TryGetProperty("sha", out var sha) && sha.ValueKind == JsonValueKind.String ? sha.GetString()! : "";
            if (!HubCache.IsCommitHash(commit))
                throw new HubException($"{repo}: the Hub's revision answer has no commit 'sha' (got '{commit}').");
            var files = new List<HubRepoFile>();
            if (root.TryGetProperty("siblings", out var siblings) && siblings.ValueKind == JsonValueKind.Array)
                foreach (var sibling in siblings.EnumerateArray())
                    files.Add(ParseSibling(repo, sibling));
            return new HubRevision(commit, files);
        }
        catch (JsonException e)
        {
            throw new HubException($"{repo}: the Hub's revision answer is not JSON: {e.Message}", e);
        }
    }

    private static HubRepoFile ParseSibling(HubRepoId repo, JsonElement sibling)
    {
        string path = sibling.TryGetProperty("rfilename", out var name) && name.ValueKind == JsonValueKind.String
            ? name.GetString()!
            : throw new HubException($"{repo}: a file in the Hub's revision answer has no 'rfilename'.");
        long? size = sibling.TryGetProperty("size", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt64() : null;
        string? sha256 = null;
        if (sibling.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object)
        {
            sha256 = lfs.TryGetProperty("sha256", out var h) && h.ValueKind == JsonValueKind.String ? h.GetString() : null;
            if (lfs.TryGetProperty("size", out var ls) && ls.ValueKind == JsonValueKind.Number)
                size = ls.GetInt64();
        }
        return new HubRepoFile(path, size, sha256);
    }
}
