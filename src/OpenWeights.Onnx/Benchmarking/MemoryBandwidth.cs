using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace OpenWeights.Onnx.Benchmarking;

/// <summary>
/// This machine's read bandwidth as decoding sees it: a streaming read (vector loads, summed so nothing is
/// optimised away) of a buffer larger than the last-level cache, split over the same number of threads as
/// ONNX Runtime's intra-op pool. Decode reads every weight once per token, so bandwidth ÷ weight bytes per
/// token bounds decode tokens/s.
/// </summary>
public sealed unsafe class MemoryBandwidth : IDisposable
{
    private readonly byte* _buffer;
    private readonly Thread[] _threads;
    private readonly Barrier _start, _done;
    private readonly ulong[] _sinks;
    private volatile bool _disposed;
    private bool _fill; // set before the start barrier, which orders it for the workers

    public long BufferBytes { get; }
    public int Threads => _threads.Length;

    /// <summary>At least 256 MiB and twice the last-level cache, so each pass streams from memory.</summary>
    public static long DefaultBufferBytes()
    {
        long cache = 0;
        try
        {
            foreach (var index in Directory.EnumerateDirectories("/sys/devices/system/cpu/cpu0/cache", "index*"))
            {
                string text = File.ReadAllText(Path.Combine(index, "size")).Trim();
                long scale = text.EndsWith('K') ? 1024 : text.EndsWith('M') ? 1 << 20 : 1;
                if (long.TryParse(text.TrimEnd('K', 'M'), out long size))
                    cache = Math.Max(cache, size * scale);
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Math.Max(256L << 20, (2 * cache + (1 << 20) - 1) & ~((1L << 20) - 1));
    }

    public MemoryBandwidth(int threads, long bufferBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        int chunk = Math.Max(Vector<byte>.Count * 4, 8 * 64) * threads; // whole unrolled steps of either read loop per thread
        BufferBytes = bufferBytes / chunk * chunk;
        _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)BufferBytes, 4096);
        _sinks = new ulong[threads * 8];
        _start = new Barrier(threads + 1);
        _done = new Barrier(threads + 1);
        _threads = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int index = t;
            _threads[t] = new Thread(() => Worker(index)) { IsBackground = true, Name = "owonnx bandwidth" };
            _threads[t].Start();
        }
        // Touch every page (in parallel, as the passes will read it) so no pass pays for page faults.
        Pass(fill: true);
    }

    /// <summary>One timed pass over the whole buffer; returns bytes per second.</summary>
    public double Measure()
    {
        long start = Stopwatch.GetTimestamp();
        Pass(fill: false);
        return BufferBytes / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private void Pass(bool fill)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _fill = fill;
        _start.SignalAndWait();
        _done.SignalAndWait();
    }

    private void Worker(int index)
    {
        long share = BufferBytes / _threads.Length;
        byte* begin = _buffer + index * share;
        while (true)
        {
            _start.SignalAndWait();
            if (_disposed)
                return;
            if (_fill)
                NativeMemory.Fill(begin, (nuint)share, 1);
            else
                _sinks[index * 8] += Read(begin, share);
            _done.SignalAndWait();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong Read(byte* p, long bytes)
    {
        // The widest loads the CPU has, as the kernels use them (Vector<T> stays 256-bit on AVX-512 machines).
        if (Vector512.IsHardwareAccelerated && bytes % (8 * Vector512<byte>.Count) == 0)
            return Read512(p, bytes);
        int step = Vector<byte>.Count;
        var a = Vector<ulong>.Zero;
        var b = Vector<ulong>.Zero;
        var c = Vector<ulong>.Zero;
        var d = Vector<ulong>.Zero;
        byte* end = p + bytes;
        for (; p < end; p += 4 * step)
        {
            a += Unsafe.ReadUnaligned<Vector<ulong>>(p);
            b += Unsafe.ReadUnaligned<Vector<ulong>>(p + step);
            c += Unsafe.ReadUnaligned<Vector<ulong>>(p + 2 * step);
            d += Unsafe.ReadUnaligned<Vector<ulong>>(p + 3 * step);
        }
        return Vector.Sum(a + b + c + d);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong Read512(byte* p, long bytes)
    {
        int step = Vector512<byte>.Count;
        Vector512<ulong> a = default, b = default, c = default, d = default, e = default, f = default, g = default, h = default;
        byte* end = p + bytes;
        for (; p < end; p += 8 * step)
        {
            a += Vector512.Load((ulong*)p);
            b += Vector512.Load((ulong*)(p + step));
            c += Vector512.Load((ulong*)(p + 2 * step));
            d += Vector512.Load((ulong*)(p + 3 * step));
            e += Vector512.Load((ulong*)(p + 4 * step));
            f += Vector512.Load((ulong*)(p + 5 * step));
            g += Vector512.Load((ulong*)(p + 6 * step));
            h += Vector512.Load((ulong*)(p + 7 * step));
        }
        return Vector512.Sum(a + b + c + d + e + f + g + h);
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _start.SignalAndWait();
        foreach (var t in _threads)
            t.Join();
        _start.Dispose();
        _done.Dispose();
        NativeMemory.AlignedFree(_buffer);
    }
}
