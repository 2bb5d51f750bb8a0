using Microsoft.Extensions.Hosting;

namespace OpenWeights.Onnx.Server.Hosting;

/// <summary>A host lifetime that ignores process signals: for a server embedded in another process (tests).</summary>
internal sealed class NoSignalLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
