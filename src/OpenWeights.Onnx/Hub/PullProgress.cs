namespace OpenWeights.Onnx.Hub;

/// <summary>A pull's state, for one progress display over all parallel downloads.</summary>
/// <param name="BytesDone">Bytes on disk so far (resumed bytes count as done).</param>
/// <param name="BytesTotal">Bytes of the files this pull must download (cached files excluded), when known.</param>
public sealed record PullProgress(int FilesDone, int FilesTotal, long BytesDone, long BytesTotal, string? LastFile);

/// <summary>Thread-safe counters behind <see cref="PullProgress"/>; reports are serialised so a display needs no lock.</summary>
internal sealed class PullProgressCounter(IProgress<PullProgress>? sink, int filesTotal)
{
    private readonly Lock _lock = new();
    private int _filesDone;
    private long _bytesDone, _bytesTotal;
    private string? _lastFile;

    public void AddExpected(long bytes)
    {
        lock (_lock)
            _bytesTotal += bytes;
    }

    public void AddBytes(long bytes)
    {
        lock (_lock)
        {
            _bytesDone += bytes;
            Report();
        }
    }

    public void FileDone(string path)
    {
        lock (_lock)
        {
            _filesDone++;
            _lastFile = path;
            Report();
        }
    }

    private void Report() => sink?.Report(new PullProgress(_filesDone, filesTotal, _bytesDone, _bytesTotal, _lastFile));
}
