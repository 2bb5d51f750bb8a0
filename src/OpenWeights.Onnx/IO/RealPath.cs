namespace OpenWeights.Onnx.IO;

/// <summary>
/// Where a path really points once every symbolic link along it is followed, for paths that need not exist yet
/// (the part that exists is resolved, the rest appended). Comparing real paths is what tells whether an output
/// folder is, holds or lies inside an input folder, whatever links or <c>..</c> spell them.
/// </summary>
public static class RealPath
{
    // As the kernel's ELOOP limit: a longer chain of links is a cycle.
    private const int MaxLinks = 40;

    public static StringComparison Comparison =>
        OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;

    public static string Resolve(string path)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var missing = new Stack<string>();
        string existing = full;
        while (!Path.Exists(existing) && !IsLink(existing))
        {
            string? parent = Path.GetDirectoryName(existing);
            if (parent is null)
                break;
            missing.Push(Path.GetFileName(existing));
            existing = parent;
        }
        int links = 0;
        string real = ResolveExisting(existing, ref links);
        while (missing.Count > 0)
            real = Path.Combine(real, missing.Pop());
        return real;
    }

    /// <summary>True when <paramref name="inner"/> is <paramref name="outer"/> or lies anywhere below it (both real paths).</summary>
    public static bool IsSameOrInside(string inner, string outer)
    {
        if (string.Equals(inner, outer, Comparison))
            return true;
        string prefix = outer.EndsWith(Path.DirectorySeparatorChar) ? outer : outer + Path.DirectorySeparatorChar;
        return inner.StartsWith(prefix, Comparison);
    }

    private static string ResolveExisting(string full, ref int links)
    {
        string root = Path.GetPathRoot(full) ?? "/";
        string current = root;
        foreach (string part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            string next = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.LinkTarget is { } target)
            {
                if (++links > MaxLinks)
                    throw new IOException($"{full}: too many levels of symbolic links.");
                string targetPath = Path.IsPathRooted(target) ? target : Path.Combine(current, target);
                next = ResolveExisting(Path.TrimEndingDirectorySeparator(Path.GetFullPath(targetPath)), ref links);
            }
            current = next;
        }
        return current;
    }

    private static bool IsLink(string path)
    {
        try { return new FileInfo(path).LinkTarget is not null; }
        catch (IOException) { return false; }
    }
}
