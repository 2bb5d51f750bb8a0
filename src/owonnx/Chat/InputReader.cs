namespace OpenWeights.Onnx.Cli.Chat;

/// <summary>
/// Reads chat input line by line without blocking cancellation: a blocked ReadLine cannot be interrupted, so it
/// runs in the background and the caller waits on it with a token (Ctrl-C at the prompt ends the chat).
/// Multi-line messages go between lines of <c>"""</c>.
/// </summary>
internal sealed class InputReader(TextReader input, bool interactive)
{
    public const string Fence = "\"\"\"";
    private Task<string?>? _pending;

    /// <summary>The next message, or null at the end of input (Ctrl-D).</summary>
    public string? ReadMessage(CancellationToken cancellationToken)
    {
        string? line = ReadLine(">>> ", cancellationToken);
        if (line is null || !line.TrimStart().StartsWith(Fence, StringComparison.Ordinal))
            return line;

        string first = line.TrimStart()[Fence.Length..];
        if (first.TrimEnd().EndsWith(Fence, StringComparison.Ordinal))
            return first.TrimEnd()[..^Fence.Length];
        var lines = new List<string> { first };
        while (ReadLine("... ", cancellationToken) is { } next)
        {
            string trimmed = next.TrimEnd();
            if (trimmed.EndsWith(Fence, StringComparison.Ordinal))
            {
                lines.Add(trimmed[..^Fence.Length]);
                break;
            }
            lines.Add(next);
        }
        return string.Join('\n', lines).Trim('\n');
    }

    private string? ReadLine(string prompt, CancellationToken cancellationToken)
    {
        if (interactive)
            Console.Error.Write(prompt);
        _pending ??= Task.Run(input.ReadLine);
        _pending.Wait(cancellationToken);
        string? line = _pending.Result;
        _pending = null;
        return line;
    }
}
