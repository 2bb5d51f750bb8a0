namespace OpenWeights.Onnx.Conversion;

/// <summary>
/// A conversion writes into a hidden sibling folder and moves it into place only when complete, so a
/// failure or Ctrl-C never leaves a half-written model where a real one would be, and never loses the old one.
/// </summary>
public sealed class OutputFolder : IDisposable
{
    private bool _committed;

    public string Final { get; }
    public string Staging { get; }

    public OutputFolder(string final, bool overwrite)
    {
        Final = Path.GetFullPath(final);
        if (Directory.Exists(Final) && Directory.EnumerateFileSystemEntries(Final).Any() && !overwrite)
            throw new OutputExistsException(Final);
        if (File.Exists(Final))
            throw new IOException($"{Final}: output path is a file, not a folder.");
        string parent = Path.GetDirectoryName(Final) ?? ".";
        Directory.CreateDirectory(parent);
        Staging = Path.Combine(parent, $".{Path.GetFileName(Final)}.owonnx-{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(Staging);
    }

    /// <summary>Moves the staged folder into place; an existing folder is swapped out first and deleted last.</summary>
    public void Commit()
    {
        string? previous = null;
        if (Directory.Exists(Final))
        {
            previous = Staging + ".old";
            Directory.Move(Final, previous);
        }
        try
        {
            Directory.Move(Staging, Final);
        }
        catch
        {
            if (previous is not null)
                Directory.Move(previous, Final);
            throw;
        }
        _committed = true;
        if (previous is not null)
            Directory.Delete(previous, recursive: true);
    }

    public void Dispose()
    {
        if (!_committed && Directory.Exists(Staging))
            Directory.Delete(Staging, recursive: true);
    }
}
