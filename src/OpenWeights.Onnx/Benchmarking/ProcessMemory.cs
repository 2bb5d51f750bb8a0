namespace OpenWeights.Onnx.Benchmarking;

/// <summary>
/// This process's memory from /proc/self/status: peak resident set (VmHWM) and anonymous resident memory
/// (RssAnon — heap and native allocations, not file-backed pages such as a memory-mapped checkpoint).
/// </summary>
public readonly record struct ProcessMemory(long PeakResident, long AnonymousResident, long Resident)
{
    public static ProcessMemory Read()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status))
            return new ProcessMemory(Environment.WorkingSet, 0, Environment.WorkingSet);
        long Field(string[] lines, string name)
        {
            var line = lines.FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line[(name.Length + 1)..].Trim().Split(' ')[0]) * 1024;
        }
        var lines = File.ReadAllLines(status);
        return new ProcessMemory(Field(lines, "VmHWM"), Field(lines, "RssAnon"), Field(lines, "VmRSS"));
    }
}
