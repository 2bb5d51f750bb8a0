using System.Net;
using System.Security.Cryptography;

namespace OpenWeights.Onnx.Hub;

/// <summary>
/// Downloads one file into <c>blobs/{etag}.incomplete</c>, resuming what an earlier try left there with a
/// <c>Range</c> request, checks its size and (for LFS files) its sha256, and only then renames it to
/// <c>blobs/{etag}</c>. A file that fails its checksum is deleted: it never becomes a blob.
/// </summary>
internal sealed class BlobDownloader(HubHttp http)
{
    private const int BufferSize = 1 << 20;

    public async Task DownloadAsync(HubCache cache, HubRepoFile file, HubFileMetadata metadata,
        PullProgressCounter progress, CancellationToken cancellationToken)
    {
        var settings = http.Settings;
        string blob = cache.Blob(metadata.Etag);
        string incomplete = cache.IncompleteBlob(metadata.Etag);
        long? expectedSize = metadata.Size ?? file.Size;
        Directory.CreateDirectory(cache.BlobsFolder);

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var stream = OpenIncomplete(cache, file, incomplete))
        {
            await HashExistingAsync(stream, hash, cancellationToken);
            progress.AddBytes(stream.Length);
            for (int attempt = 1; ; attempt++)
            {
                if (expectedSize is { } size && stream.Length == size)
                    break;
                try
                {
                    if (await TransferAsync(cache.Repo, file, metadata.Location, stream, hash, progress, cancellationToken))
                        break;
                }
                catch (Exception e) when (IsTransferFailure(e) && !cancellationToken.IsCancellationRequested)
                {
                    if (attempt >= settings.TransferAttempts)
                        throw new HubException(
                            $"{cache.Repo}: {file.Path}: the download was cut after {stream.Length:N0} of " +
                            $"{(expectedSize is { } s ? s.ToString("N0") : "?")} bytes ({e.Message}), {attempt} tries. " +
                            $"Run the same command again: it resumes from {incomplete}.", e);
                }
            }
            await stream.FlushAsync(cancellationToken);

            if (expectedSize is { } expected && stream.Length != expected)
                Fail(cache, file, incomplete, $"is {stream.Length:N0} bytes but the Hub lists {expected:N0}");
            if (ExpectedSha256(file, metadata) is { } sha256)
            {
                string actual = Convert.ToHexStringLower(hash.GetHashAndReset());
                if (actual != sha256)
                    Fail(cache, file, incomplete, $"failed its checksum: sha256 {actual}, but the Hub lists {sha256}");
            }
        }
        // A blob that appeared meanwhile (another process) has the same content: its name is its hash.
        if (!File.Exists(blob))
            File.Move(incomplete, blob);
        else
            File.Delete(incomplete);
    }

    /// <summary>One GET from the current length on; true when the body arrived whole.</summary>
    private async Task<bool> TransferAsync(HubRepoId repo, HubRepoFile file, Uri location, FileStream stream,
        IncrementalHash hash, PullProgressCounter progress, CancellationToken cancellationToken)
    {
        long from = stream.Length;
        using var response = await http.SendAsync(HttpMethod.Get, location, stopAtOtherOrigin: false, rangeFrom: from, cancellationToken: cancellationToken);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The partial file is not a prefix of this blob (longer than it): start over.
            Restart(stream, hash, progress);
            return false;
        }
        HubResponseErrors.ThrowIfFailed(response, repo, http.Settings, file.Path);
        if (from > 0 && (response.StatusCode != HttpStatusCode.PartialContent || response.Content.Headers.ContentRange?.From != from))
            Restart(stream, hash, progress); // the server ignored the Range: its body is the whole file

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[BufferSize];
        stream.Seek(0, SeekOrigin.End);
        while (true)
        {
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            stall.CancelAfter(http.Settings.RequestTimeout);
            int read;
            try
            {
                read = await body.ReadAsync(buffer, stall.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new IOException($"no data for {http.Settings.RequestTimeout.TotalSeconds:F0} s");
            }
            if (read == 0)
                return true;
            await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            hash.AppendData(buffer, 0, read);
            progress.AddBytes(read);
        }
    }

    // Exclusive: two pulls of the same blob must not append to one file (on Unix .NET takes an advisory lock).
    private static FileStream OpenIncomplete(HubCache cache, HubRepoFile file, string incomplete)
    {
        try
        {
            return new FileStream(incomplete, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, BufferSize, FileOptions.Asynchronous);
        }
        catch (IOException e)
        {
            throw new HubException($"{cache.Repo}: {file.Path}: {incomplete} is being written by another process (another pull of " +
                                   "the same model?); wait for it to finish and run this again.", e);
        }
    }

    private static void Restart(FileStream stream, IncrementalHash hash, PullProgressCounter progress)
    {
        progress.AddBytes(-stream.Length);
        stream.SetLength(0);
        hash.GetHashAndReset();
    }

    private static async Task HashExistingAsync(FileStream stream, IncrementalHash hash, CancellationToken cancellationToken)
    {
        var buffer = new byte[BufferSize];
        stream.Seek(0, SeekOrigin.Begin);
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            hash.AppendData(buffer, 0, read);
    }

    /// <summary>LFS files carry their sha256 in the revision listing and as their ETag; git-stored files are small and have neither.</summary>
    private static string? ExpectedSha256(HubRepoFile file, HubFileMetadata metadata) =>
        file.Sha256?.ToLowerInvariant() ?? (metadata.Etag.Length == 64 && metadata.Etag.All(char.IsAsciiHexDigitLower) ? metadata.Etag : null);

    private static bool IsTransferFailure(Exception e) => e is IOException and not HubException || e is HttpRequestException
        || e is HubException { InnerException: HttpRequestException };

    private static void Fail(HubCache cache, HubRepoFile file, string incomplete, string problem)
    {
        File.Delete(incomplete);
        throw new HubException($"{cache.Repo}: {file.Path} {problem}. The download was deleted and nothing was linked " +
                               "into the snapshot; run the command again to download it anew.");
    }
}
