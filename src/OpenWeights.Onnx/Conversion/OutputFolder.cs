using System.Diagnostics;
using System.Text.RegularExpressions;
using OpenWeights.Onnx.IO;

namespace OpenWeights.Onnx.Conversion;

/// <summary>
/// A conversion writes into a hidden sibling folder and moves it into place only when complete, so a
/// failure or Ctrl-C never leaves a half-written model where a real one would be, and never loses the old one.
/// <para>
/// Never losing data also means: the output may not be, hold or lie inside an input (real paths, links followed);
/// an existing folder is replaced only when it is empty or a previous owonnx output (<see cref="ConvertedFolder"/>).
/// A run killed outright (kill -9, power loss) leaves its staging folder behind; the next conversion into the same
/// parent removes it, but only once no live process holds its lock file (<c>.owonnx-lock-…</c> beside it, held open
/// without sharing for the whole run), and puts back a previous output a killed commit had moved aside.
/// </para>
/// </summary>
public sealed partial class OutputFolder : IDisposable
{
    private const string LockPrefix = ".owonnx-lock-";
    private readonly FileStream _lock;
    private bool _committed;

    public string Final { get; }
    public string Staging { get; }
    private readonly string _previous;

    /// <param name="inputs">Folders the conversion reads: the output may not overlap any of them.</param>
    public OutputFolder(string final, bool overwrite, params IEnumerable<string> inputs)
    {
        if (string.IsNullOrWhiteSpace(final))
            throw new ArgumentException("the output path is empty.");
        Final = RealPath.Resolve(final);
        foreach (string input in inputs)
        {
            string real = RealPath.Resolve(input);
            if (RealPath.IsSameOrInside(Final, real))
                throw new IOException(string.Equals(Final, real, RealPath.Comparison)
                    ? $"{final}: the output folder is the input folder {input}; choose another output folder."
                    : $"{final}: the output folder lies inside the input folder {input}; choose an output folder outside it.");
            if (RealPath.IsSameOrInside(real, Final))
                throw new IOException($"{final}: the output folder contains the input folder {input}; replacing it would delete the input; choose another output folder.");
        }
        if (File.Exists(Final))
            throw new IOException($"{Final}: output path is a file, not a folder.");
        if (Directory.Exists(Final) && Directory.EnumerateFileSystemEntries(Final).Any())
        {
            if (!overwrite)
                throw new OutputExistsException(Final);
            if (ConvertedFolder.WhyNotReplaceable(Final) is { } reason)
                throw new IOException($"{Final}: overwriting replaces only an empty folder or a previous owonnx output, and {reason}; choose another output folder or empty it yourself.");
        }

        string parent = Path.GetDirectoryName(Final) ?? throw new IOException($"{Final}: cannot write a model at the file system root.");
        Directory.CreateDirectory(parent);
        CleanStale(parent);
        string run = $"{Environment.ProcessId}-{Guid.NewGuid():N}";
        Staging = Path.Combine(parent, $".owonnx-staging-{run}-{Path.GetFileName(Final)}");
        _previous = Path.Combine(parent, $".owonnx-previous-{run}-{Path.GetFileName(Final)}");
        // The lock exists before the folders it guards and is held until the commit is complete, so a leftover
        // whose lock can be taken is never a live run's.
        _lock = new FileStream(Path.Combine(parent, LockPrefix + run), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        try
        {
            Directory.CreateDirectory(Staging);
        }
        catch
        {
            _lock.Dispose();
            throw;
        }
    }

    /// <summary>Moves the staged folder into place; an existing folder is swapped out first and deleted last.</summary>
    public void Commit()
    {
        bool hadPrevious = Directory.Exists(Final);
        if (hadPrevious)
            Directory.Move(Final, _previous);
        try
        {
            Directory.Move(Staging, Final);
        }
        catch
        {
            if (hadPrevious)
                Directory.Move(_previous, Final);
            throw;
        }
        _committed = true;
        if (hadPrevious)
            Directory.Delete(_previous, recursive: true);
    }

    public void Dispose()
    {
        try
        {
            if (!_committed && Directory.Exists(Staging))
                Directory.Delete(Staging, recursive: true);
        }
        finally
        {
            _lock.Dispose();
        }
    }

    /// <summary>
    /// Removes what killed runs left in <paramref name="parent"/>: staging folders whose lock no one holds. A previous
    /// output moved aside by a commit that never finished goes back into place when its folder is still missing.
    /// </summary>
    public static void CleanStale(string parent)
    {
        List<string> entries;
        try { entries = Directory.EnumerateDirectories(parent, ".owonnx-*").ToList(); }
        catch (DirectoryNotFoundException) { return; }
        foreach (string path in entries)
        {
            var match = LeftoverName().Match(Path.GetFileName(path));
            if (!match.Success)
                continue;
            string run = $"{match.Groups["pid"].Value}-{match.Groups["id"].Value}";
            string lockPath = Path.Combine(parent, LockPrefix + run);
            using var claim = Claim(lockPath, int.Parse(match.Groups["pid"].Value));
            if (claim is null)
                continue;
            try
            {
                string final = Path.Combine(parent, match.Groups["name"].Value);
                if (match.Groups["kind"].Value == "previous" && !Path.Exists(final))
                    Directory.Move(path, final);
                else
                    Directory.Delete(path, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not ours to remove after all (permissions), or another cleaner was faster: leave it.
            }
        }
    }

    /// <summary>
    /// The lock of a run no live process writes, held while its leftovers are removed; null while the run is alive.
    /// A run killed before it created its lock is abandoned when its process is gone.
    /// </summary>
    private static IDisposable? Claim(string lockPath, int pid)
    {
        try
        {
            return new FileStream(lockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (FileNotFoundException)
        {
            return ProcessAlive(pid) ? null : new MemoryStream();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool ProcessAlive(int pid)
    {
        if (pid == Environment.ProcessId)
            return true;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"^\.owonnx-(?<kind>staging|previous)-(?<pid>\d{1,9})-(?<id>[0-9a-f]{32})-(?<name>.+)$")]
    private static partial Regex LeftoverName();
}
