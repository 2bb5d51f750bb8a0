using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenWeights.Onnx.Server.Errors;
using OpenWeights.Onnx.Server.Metrics;

namespace OpenWeights.Onnx.Server.Hosting;

/// <summary>
/// Owns the served model's lifetime: loads it in the background when the host starts (so /health can say "loading"),
/// and on shutdown (SIGTERM → ApplicationStopping) stops the scheduler accepting work, lets in-flight requests finish
/// until <see cref="ServerOptions.ShutdownTimeout"/>, cancels the rest, then frees the model.
/// </summary>
public sealed class ModelHost(ServerOptions options, ServerMetrics metrics, IHostApplicationLifetime lifetime, ILogger<ModelHost> logger)
    : IHostedService, IDisposable
{
    private readonly TaskCompletionSource<ServedModel> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private ServedModel? _model;
    private string? _error;
    private bool _draining;
    private Task _loading = Task.CompletedTask;
    private CancellationTokenRegistration _stopping;
    private CancellationTokenRegistration _started;

    public ModelState State
    {
        get
        {
            lock (_lock)
                return _draining ? ModelState.ShuttingDown : _model is not null ? ModelState.Ready
                    : _error is not null ? ModelState.Failed : ModelState.Loading;
        }
    }

    /// <summary>Completes with the model once loaded; faults if loading failed.</summary>
    public Task<ServedModel> Ready => _ready.Task;
    public string? LoadError { get { lock (_lock) return _error; } }
    public ServedModel? Model { get { lock (_lock) return _model; } }

    /// <summary>The model, or 503 while it is loading, failed to load, or the server is shutting down.</summary>
    public ServedModel RequireReady() => State switch
    {
        ModelState.Ready => Model!,
        ModelState.Loading => throw OpenAiException.Unavailable("The model is still loading; retry shortly.", retryAfterSeconds: 2),
        ModelState.Failed => throw OpenAiException.Unavailable("The model failed to load; see the server's log."),
        _ => throw OpenAiException.Unavailable("The server is shutting down."),
    };

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = lifetime.ApplicationStopping.Register(BeginDrain);
        // Load only once the port is bound: a server that cannot listen (port in use) then exits at once, instead of
        // tearing down a native session that is still being created.
        _started = lifetime.ApplicationStarted.Register(() => _loading = Task.Run(Load, CancellationToken.None));
        return Task.CompletedTask;
    }

    private void Load()
    {
        try
        {
            var model = ServedModel.Load(options, metrics, logger);
            lock (_lock)
            {
                _model = model;
                if (_draining)
                    model.Scheduler.BeginDrain(options.ShutdownTimeout);
            }
            _ready.TrySetResult(model);
        }
        catch (Exception e)
        {
            lock (_lock)
                _error = e.Message;
            logger.LogError("Loading {Model} failed: {Message}", options.ModelDirectory, e.Message);
            _ready.TrySetException(e);
            // Stopping while the host is still starting would surface as a cancelled start, not as this error.
            if (options.StopOnLoadFailure)
                lifetime.ApplicationStarted.Register(lifetime.StopApplication);
        }
    }

    private void BeginDrain()
    {
        lock (_lock)
        {
            _draining = true;
            _model?.Scheduler.BeginDrain(options.ShutdownTimeout);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        BeginDrain();
        await _loading.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (Model is { } model)
        {
            // The scheduler fails what is left at the drain deadline; this waits for that, or for the host's patience.
            await model.Scheduler.WaitIdleAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            model.Scheduler.Stop();
        }
    }

    public void Dispose()
    {
        _stopping.Dispose();
        _started.Dispose();
        ServedModel? model;
        lock (_lock)
        {
            model = _model;
            _model = null;
            _error ??= "the server has stopped.";
            _draining = true;
        }
        if (_loading.IsCompleted)
            model?.Dispose();
    }
}
