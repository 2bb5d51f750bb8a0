namespace OpenWeights.Onnx.Hub;

/// <summary>
/// Puts a blob into a snapshot: a relative symbolic link (the cache folder can move) as huggingface_hub makes
/// them, or a copy where the file system cannot hold links. The link appears in one rename, so a reader never
/// sees a half-made entry.
/// </summary>
public static class SnapshotLinker
{
    public static void Link(string blob, string snapshotFile)
    {
        string folder = Path.GetDirectoryName(snapshotFile)!;
        Directory.CreateDirectory(folder);
        string temporary = Path.Combine(folder, $".{Path.GetFileName(snapshotFile)}.{Guid.NewGuid():N}.tmp");
        try
        {
            try
            {
                File.CreateSymbolicLink(temporary, Path.GetRelativePath(folder, blob));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
            {
                File.Copy(blob, temporary);
            }
            File.Move(temporary, snapshotFile, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary) || new FileInfo(temporary).LinkTarget is not null)
                File.Delete(temporary);
        }
    }
}
