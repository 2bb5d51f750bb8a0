using System.Runtime.InteropServices;

namespace OpenWeights.Onnx.Cli.CommandLine;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM become cancellation instead of an abrupt exit, so a command can stop cleanly
/// (a conversion removes its temporary folder, a server drains) and exit with 130. A command may take the
/// first interrupt for itself (chat stops the reply and goes back to the prompt); a second interrupt while the
/// command is already cancelling ends the process at once.
/// </summary>
internal sealed class Interrupts : IDisposable
{
    public const int ExitCode = 130;

    private readonly CancellationTokenSource _command = new();
    private readonly PosixSignalRegistration _interrupt, _terminate;
    private Func<bool>? _handler;

    public Interrupts()
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Cancelled by the first interrupt that no handler took.</summary>
    public CancellationToken Token => _command.Token;

    /// <summary>The signal that cancelled <see cref="Token"/> (SIGTERM asks a server for an ordinary stop).</summary>
    public PosixSignal? Received { get; private set; }

    /// <summary>
    /// While the returned scope lives, an interrupt first goes to <paramref name="handler"/>; when it returns true
    /// the interrupt was used (e.g. a reply was stopped) and the command goes on.
    /// </summary>
    public IDisposable Intercept(Func<bool> handler)
    {
        var previous = _handler;
        _handler = handler;
        return new Scope(() => _handler = previous);
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (context.Signal == PosixSignal.SIGINT && _handler is { } handler && !_command.IsCancellationRequested && handler())
            return;
        if (_command.IsCancellationRequested)
        {
            // Asked twice: the user does not want to wait for a clean stop.
            Console.Error.WriteLine();
            Environment.Exit(ExitCode);
        }
        Received = context.Signal;
        _command.Cancel();
    }

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _command.Dispose();
    }

    private sealed class Scope(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
