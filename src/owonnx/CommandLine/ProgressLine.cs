using System.Diagnostics;

namespace OpenWeights.Onnx.Cli.CommandLine;

/// <summary>
/// A single self-rewriting status line on stderr when it is a terminal; silent when redirected (CI logs
/// get the one-line summary instead of thousands of carriage returns).
/// </summary>
internal sealed class ProgressLine : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private readonly bool _enabled = !Console.IsErrorRedirected;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _last = TimeSpan.MinValue;
    private int _width;

    public void Update(string text, bool force = false)
    {
        if (!_enabled || (!force && _clock.Elapsed - _last < Interval))
            return;
        _last = _clock.Elapsed;
        string line = text.Length > 110 ? text[..110] : text;
        Console.Error.Write("\r" + line.PadRight(_width));
        _width = line.Length;
    }

    public static string Bar(double fraction, int width = 24)
    {
        int filled = (int)Math.Round(Math.Clamp(fraction, 0, 1) * width);
        return "[" + new string('#', filled) + new string('.', width - filled) + "]";
    }

    public void Dispose()
    {
        if (_enabled && _width > 0)
            Console.Error.Write("\r" + new string(' ', _width) + "\r");
    }
}
