using System.Text;

namespace OpenWeights.Onnx.Generation;

/// <summary>
/// Finds stop strings in streamed text. A stop string may arrive split over several fragments, so text
/// that could still be the start of one is held back until it is known not to be.
/// </summary>
public sealed class StopStringMatcher(IReadOnlyList<string> stops)
{
    private readonly StringBuilder _pending = new();

    public bool Stopped { get; private set; }

    /// <summary>Adds a fragment and returns the text that is now safe to emit (before any stop string).</summary>
    public string Push(ReadOnlySpan<char> fragment)
    {
        if (Stopped)
            return "";
        _pending.Append(fragment);
        if (stops.Count == 0)
            return Drain(_pending.Length);

        string text = _pending.ToString();
        int stopAt = -1;
        foreach (var stop in stops)
        {
            int i = text.IndexOf(stop, StringComparison.Ordinal);
            if (i >= 0 && (stopAt < 0 || i < stopAt))
                stopAt = i;
        }
        if (stopAt >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return text[..stopAt];
        }
        return Drain(text.Length - HeldBack(text));
    }

    /// <summary>
    /// Adds a fragment that stop strings must not cut (text of a constrained document, which must stay whole): it
    /// is released at once, with whatever was held back before it.
    /// </summary>
    public string PushUnmatched(ReadOnlySpan<char> fragment)
    {
        if (Stopped)
            return "";
        _pending.Append(fragment);
        return Drain(_pending.Length);
    }

    /// <summary>The held-back text at the end of the stream (no stop string followed).</summary>
    public string Flush() => Stopped ? "" : Drain(_pending.Length);

    /// <summary>Length of the longest suffix of <paramref name="text"/> that begins some stop string.</summary>
    private int HeldBack(string text)
    {
        int longest = 0;
        foreach (var stop in stops)
            for (int n = Math.Min(stop.Length - 1, text.Length); n > longest; n--)
                if (text.AsSpan(text.Length - n).SequenceEqual(stop.AsSpan(0, n)))
                {
                    longest = n;
                    break;
                }
        return longest;
    }

    private string Drain(int count)
    {
        string result = _pending.ToString(0, count);
        _pending.Remove(0, count);
        return result;
    }
}
