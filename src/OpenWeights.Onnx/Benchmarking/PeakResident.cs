namespace OpenWeights.Onnx.Benchmarking;

/// <summary>
/// The process's peak resident memory over several windows, so that a measurement's own scratch buffer (the
/// bandwidth probe) can be left out: sample the peak before allocating it, reset the kernel's high-water mark
/// (<c>/proc/self/clear_refs</c>, "5") after freeing it. Where the reset is not allowed, callers measure
/// such buffers only after the last sample.
/// </summary>
internal sealed class PeakResident
{
    private const string ClearRefs = "/proc/self/clear_refs";
    private long _max;
    private bool _frozen; // a buffer was left in the high-water mark: later readings would include it

    public bool CanReset { get; private set; } = File.Exists(ClearRefs);

    public void Sample()
    {
        if (!_frozen)
            _max = Math.Max(_max, ProcessMemory.Read().PeakResident);
    }

    public void Reset()
    {
        if (!CanReset)
        {
            _frozen = true;
            return;
        }
        try
        {
            File.WriteAllText(ClearRefs, "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            CanReset = false;
            _frozen = true;
        }
    }

    /// <summary>The peak over every window, <paramref name="current"/> being the last window's high-water mark.</summary>
    public long Max(long current) => _frozen ? _max : Math.Max(_max, current);
}
