namespace OpenWeights.Onnx.Hub;

/// <summary>The two questions a pull asks the Hub: which commit and files a revision has, and where each file's bytes are.</summary>
public sealed class HubApi(HubHttp http)
{
    private HubSettings Settings => http.Settings;

    public async Task<HubRevision> GetRevisionAsync(HubRepoId repo, CancellationToken cancellationToken)
    {
        var uri = new Uri($"{Base}/api/models/{repo.Owner}/{repo.Name}/revision/{Uri.EscapeDataString(repo.Revision)}?blobs=true");
        using var response = await http.SendAsync(HttpMethod.Get, uri, stopAtOtherOrigin: false, cancellationToken: cancellationToken);
        HubResponseErrors.ThrowIfFailed(response, repo, Settings);
        return HubRevision.Parse(repo, await response.Content.ReadAsStringAsync(cancellationToken));
    }

    public async Task<HubFileMetadata> GetFileMetadataAsync(HubRepoId repo, string commit, string path, CancellationToken cancellationToken)
    {
        var uri = ResolveUri(repo, commit, path);
        using var response = await http.SendAsync(HttpMethod.Head, uri, stopAtOtherOrigin: true, cancellationToken: cancellationToken);
        HubResponseErrors.ThrowIfFailed(response, repo, Settings, path);
        string? etag = HubFileMetadata.NormalizeEtag(
            HubResponseErrors.Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.ToString() ?? HubResponseErrors.Header(response, "ETag"));
        if (string.IsNullOrEmpty(etag))
            throw new HubException($"{repo}: {path}: the Hub sent no ETag for the file, so it cannot be cached by content.");
        bool redirected = (int)response.StatusCode is >= 300 and < 400;
        long? size = long.TryParse(HubResponseErrors.Header(response, "X-Linked-Size"), out long linked) ? linked
            : redirected ? null : response.Content.Headers.ContentLength;
        var location = redirected && response.Headers.Location is { } target ? new Uri(response.RequestMessage!.RequestUri!, target) : uri;
        return new HubFileMetadata(HubResponseErrors.Header(response, "X-Repo-Commit"), etag, size, location);
    }

    /// <summary><c>{endpoint}/{repo}/resolve/{revision}/{path}</c>: the revision escaped whole, the path per segment.</summary>
    public Uri ResolveUri(HubRepoId repo, string revision, string path) =>
        new($"{Base}/{repo.Owner}/{repo.Name}/resolve/{Uri.EscapeDataString(revision)}/" +
            string.Join('/', path.Split('/').Select(Uri.EscapeDataString)));

    private string Base => Settings.Endpoint.AbsoluteUri.TrimEnd('/');
}
