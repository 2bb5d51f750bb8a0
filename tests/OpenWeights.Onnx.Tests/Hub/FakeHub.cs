using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace OpenWeights.Onnx.Tests.Hub;

/// <summary>One file of a fake repo. LFS files are served through the storage redirect, the others by the Hub itself.</summary>
public sealed record FakeFile(byte[] Content, bool Lfs)
{
    public string Sha256 { get; } = Convert.ToHexStringLower(SHA256.HashData(Content));

    /// <summary>git's blob id: sha1 of "blob {size}\0" + content — the ETag the Hub sends for files kept in git.</summary>
    public string GitBlobId { get; } = Convert.ToHexStringLower(SHA1.HashData(
        [.. Encoding.ASCII.GetBytes($"blob {Content.Length}\0"), .. Content]));

    public string Etag => Lfs ? Sha256 : GitBlobId;
}

/// <summary>A model repo at one commit, reachable by its commit and by the branch "main".</summary>
public sealed class FakeRepo(string id, Dictionary<string, FakeFile> files)
{
    public string Id { get; } = id;
    public string Commit { get; } = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes("commit " + id)));
    public Dictionary<string, FakeFile> Files { get; } = files;

    /// <summary>Set for a gated repo: file downloads need "Authorization: Bearer {token}" (the listing stays public, as on the Hub).</summary>
    public string? RequiredToken { get; init; }

    /// <summary>Files whose storage bytes have one byte flipped (the listing keeps the true sha256).</summary>
    public HashSet<string> Corrupted { get; } = [];

    /// <summary>How many storage GETs of a file stop half-way through (the connection is cut).</summary>
    public ConcurrentDictionary<string, int> Cuts { get; } = new();

    public bool HasRevision(string revision) => revision == "main" || revision == Commit;
}

/// <summary>What the fake Hub saw: one entry per request.</summary>
public sealed record FakeHubRequest(string Method, string Path, string? Range, string? Authorization, bool Storage);

/// <summary>
/// A Hugging Face Hub on two loopback ports of an in-process Kestrel: the Hub (revision API, resolve with the
/// real headers) and a separate "storage" origin that LFS downloads are redirected to (Range, cuts, corruption).
/// </summary>
public sealed class FakeHub : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, FakeRepo> _repos = new();
    private int _storagePort;

    private FakeHub(WebApplication app) => _app = app;

    public Uri Endpoint { get; private set; } = null!;
    public Uri Storage { get; private set; } = null!;
    public ConcurrentQueue<FakeHubRequest> Requests { get; } = new();

    /// <summary>Bytes written before each cut, in order.</summary>
    public ConcurrentQueue<long> CutAfter { get; } = new();

    public static async Task<FakeHub> StartAsync(params FakeRepo[] repos)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0);
            k.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        var hub = new FakeHub(app);
        foreach (var repo in repos)
            hub._repos[repo.Id] = repo;
        app.Run(hub.HandleAsync);
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Select(a => new Uri(a)).OrderBy(u => u.Port).ToList();
        hub.Endpoint = addresses[0];
        hub.Storage = addresses[1];
        hub._storagePort = addresses[1].Port;
        return hub;
    }

    public void Add(FakeRepo repo) => _repos[repo.Id] = repo;

    /// <summary>Renamed repos: old id → new id, answered with a relative 307 as the Hub does.</summary>
    public ConcurrentDictionary<string, string> Renamed { get; } = new();

    public void ClearRequests() => Requests.Clear();

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        bool storage = context.Connection.LocalPort == _storagePort;
        string path = request.Path.Value ?? "";
        Requests.Enqueue(new FakeHubRequest(request.Method, path, request.Headers.Range.FirstOrDefault(),
            request.Headers.Authorization.FirstOrDefault(), storage));
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();

        if (!storage && RenamedTarget(segments) is { } moved)
        {
            context.Response.StatusCode = 307;
            context.Response.Headers.Location = moved + request.QueryString;
        }
        else if (storage && segments is ["storage", var repoId1, var repoId2, var sha])
            await ServeStorageAsync(context, $"{repoId1}/{repoId2}", sha);
        else if (!storage && segments is ["api", "models", var owner, var name, "revision", var revision])
            await ServeRevisionAsync(context, $"{owner}/{name}", revision);
        else if (!storage && segments.Length >= 5 && segments[2] == "resolve")
            await ServeResolveAsync(context, $"{segments[0]}/{segments[1]}", segments[3], string.Join('/', segments[4..]));
        else
            context.Response.StatusCode = 404;
    }

    private string? RenamedTarget(string[] segments)
    {
        int at = segments is ["api", "models", ..] ? 2 : segments.Length >= 3 && segments[2] == "resolve" ? 0 : -1;
        if (at < 0 || segments.Length < at + 2 || !Renamed.TryGetValue($"{segments[at]}/{segments[at + 1]}", out var target))
            return null;
        var moved = segments.ToArray();
        (moved[at], moved[at + 1]) = (target.Split('/')[0], target.Split('/')[1]);
        return "/" + string.Join('/', moved.Select(Uri.EscapeDataString));
    }

    private static void Error(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.Headers["X-Error-Code"] = code;
        context.Response.Headers["X-Error-Message"] = message;
    }

    private async Task ServeRevisionAsync(HttpContext context, string id, string revision)
    {
        if (!_repos.TryGetValue(id, out var repo))
        {
            Error(context, 404, "RepoNotFound", "Repository not found");
            return;
        }
        if (!repo.HasRevision(revision))
        {
            Error(context, 404, "RevisionNotFound", $"Invalid rev id: {revision}");
            return;
        }
        bool blobs = context.Request.Query["blobs"] == "true";
        var siblings = repo.Files.Select(f => new Dictionary<string, object?>
        {
            ["rfilename"] = f.Key,
            ["blobId"] = blobs ? f.Value.GitBlobId : null,
            ["size"] = blobs ? f.Value.Content.Length : null,
            ["lfs"] = blobs && f.Value.Lfs
                ? new Dictionary<string, object> { ["size"] = f.Value.Content.Length, ["sha256"] = f.Value.Sha256, ["pointerSize"] = 134 }
                : null,
        }.Where(p => p.Value is not null).ToDictionary());
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new { _id = "x", id = repo.Id, sha = repo.Commit, siblings }));
    }

    private async Task ServeResolveAsync(HttpContext context, string id, string revision, string file)
    {
        if (!_repos.TryGetValue(id, out var repo))
        {
            Error(context, 404, "RepoNotFound", "Repository not found");
            return;
        }
        if (repo.RequiredToken is { } token && context.Request.Headers.Authorization != $"Bearer {token}")
        {
            Error(context, 401, "GatedRepo", $"Access to model {id} is restricted. You must have access to it and be authenticated to access it. Please log in.");
            return;
        }
        if (!repo.HasRevision(revision))
        {
            Error(context, 404, "RevisionNotFound", $"Invalid rev id: {revision}");
            return;
        }
        if (!repo.Files.TryGetValue(file, out var content))
        {
            Error(context, 404, "EntryNotFound", $"{file} does not exist on \"{revision}\"");
            return;
        }
        var response = context.Response;
        response.Headers["X-Repo-Commit"] = repo.Commit;
        if (content.Lfs)
        {
            // As the Hub does: the pointer's own ETag, the real object's in X-Linked-*, and a redirect to storage.
            response.StatusCode = 302;
            response.Headers.ETag = $"\"{Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(content.Sha256)))}\"";
            response.Headers["X-Linked-Etag"] = $"\"{content.Sha256}\"";
            response.Headers["X-Linked-Size"] = content.Content.Length.ToString();
            response.Headers.Location = new Uri(Storage, $"storage/{id}/{content.Sha256}?X-Amz-Signature=fake").AbsoluteUri;
            return;
        }
        response.Headers.ETag = $"\"{content.GitBlobId}\"";
        response.ContentLength = content.Content.Length;
        if (context.Request.Method == "GET")
            await response.Body.WriteAsync(content.Content);
    }

    private async Task ServeStorageAsync(HttpContext context, string id, string sha)
    {
        var (path, file) = _repos.TryGetValue(id, out var repo)
            ? repo.Files.Where(f => f.Value.Lfs && f.Value.Sha256 == sha).Select(f => (f.Key, f.Value)).FirstOrDefault()
            : default;
        if (file is null)
        {
            context.Response.StatusCode = 404;
            return;
        }
        byte[] bytes = file.Content;
        if (repo!.Corrupted.Contains(path))
        {
            bytes = (byte[])bytes.Clone();
            bytes[bytes.Length / 2] ^= 0x5A;
        }
        long from = 0;
        var response = context.Response;
        if (context.Request.Headers.Range.FirstOrDefault() is { } range && range.StartsWith("bytes=") && range.EndsWith('-'))
        {
            from = long.Parse(range["bytes=".Length..^1]);
            if (from >= bytes.Length)
            {
                response.StatusCode = 416;
                response.Headers.ContentRange = $"bytes */{bytes.Length}";
                return;
            }
            response.StatusCode = 206;
            response.Headers.ContentRange = $"bytes {from}-{bytes.Length - 1}/{bytes.Length}";
        }
        response.ContentLength = bytes.Length - from;
        response.Headers.ETag = $"\"{sha}\"";
        if (context.Request.Method != "GET")
            return;

        bool cut = repo.Cuts.TryGetValue(path, out int left) && left > 0 && repo.Cuts.TryUpdate(path, left - 1, left);
        if (!cut)
        {
            await response.Body.WriteAsync(bytes.AsMemory((int)from));
            return;
        }
        int half = (int)(bytes.Length - from) / 2;
        await response.Body.WriteAsync(bytes.AsMemory((int)from, half));
        await response.Body.FlushAsync();
        CutAfter.Enqueue(from + half);
        // Let the client read what was sent, then drop the connection mid-body.
        await Task.Delay(300);
        context.Abort();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
