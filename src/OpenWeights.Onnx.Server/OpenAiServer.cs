using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenWeights.Onnx.Server.Auth;
using OpenWeights.Onnx.Server.Endpoints;
using OpenWeights.Onnx.Server.Errors;
using OpenWeights.Onnx.Server.Hosting;
using OpenWeights.Onnx.Server.Metrics;

namespace OpenWeights.Onnx.Server;

/// <summary>
/// The OpenAI-compatible server: Kestrel with minimal endpoints over one loaded model and its scheduler.
/// <code>
/// POST /v1/chat/completions   POST /v1/completions   GET /v1/models[/{id}]   GET /health   GET /metrics
/// </code>
/// </summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OpenAiServer(WebApplication app, ServerOptions options)
    {
        _app = app;
        Options = options;
    }

    public ServerOptions Options { get; }
    public ModelHost Model => _app.Services.GetRequiredService<ModelHost>();
    public ServerMetrics Metrics => _app.Services.GetRequiredService<ServerMetrics>();
    public IHostApplicationLifetime Lifetime => _app.Lifetime;

    /// <summary>The address the server listens on (with the real port when <see cref="ServerOptions.Port"/> was 0); after start.</summary>
    public Uri BaseAddress =>
        new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("the server has not started."));

    public static OpenAiServer Create(ServerOptions options)
    {
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "owonnx",
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Logging.ClearProviders();
        if (options.ConsoleLogging)
            builder.Logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                })
                .SetMinimumLevel(LogLevel.Warning)
                // One access-log line per request (RequestLog).
                .AddFilter(RequestLog.Category, LogLevel.Information)
                // A failed start (port in use) is reported once by the caller, not as a logged stack trace.
                .AddFilter("Microsoft.Extensions.Hosting", LogLevel.None)
                .AddFilter("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Critical);
        // Logs go to stderr with owonnx's own messages; stdout stays free (journald takes both).
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            kestrel.Limits.MaxRequestLineSize = RequestLimitsMiddleware.KestrelLineLimit;
            kestrel.Limits.MaxRequestHeadersTotalSize = RequestLimitsMiddleware.KestrelHeaderLimit;
            kestrel.Limits.MaxRequestHeaderCount = RequestLimitsMiddleware.KestrelHeaderCountLimit;
            kestrel.Listen(options.ListenAddress, options.Port, listen => listen.Use(KestrelVerdictBodies.Around));
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout + TimeSpan.FromSeconds(5));
        if (!options.HandleSignals)
            builder.Services.AddSingleton<IHostLifetime, NoSignalLifetime>();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton<ModelHost>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ModelHost>());

        var app = builder.Build();
        app.UseMiddleware<RequestMetricsMiddleware>();
        app.UseMiddleware<ErrorMiddleware>();
        app.UseMiddleware<RequestLimitsMiddleware>();
        app.UseMiddleware<ApiKeyMiddleware>();
        app.MapPost("/v1/chat/completions", ChatCompletionsEndpoint.HandleAsync);
        app.MapPost("/v1/completions", CompletionsEndpoint.HandleAsync);
        app.MapGet("/v1/models", ModelsEndpoint.ListAsync);
        app.MapGet("/v1/models/{**id}", ModelsEndpoint.GetAsync);
        app.MapGet("/health", HealthEndpoint.HandleAsync);
        app.MapGet("/metrics", MetricsEndpoint.HandleAsync);
        return new OpenAiServer(app, options);
    }

    /// <summary>Binds the port and starts loading the model; a port in use is one clear <see cref="IOException"/>.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _app.StartAsync(cancellationToken);
        }
        catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException
                                    || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            throw new IOException(
                $"{Options.Host}:{Options.Port} is already in use (another server is listening there); choose another --port or stop that server.", e);
        }
    }

    /// <summary>Graceful stop: no new requests, in-flight ones finish until the shutdown timeout, then the model is freed.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    /// <summary>
    /// After <see cref="StartAsync"/>: waits until SIGTERM/Ctrl-C (with <see cref="ServerOptions.HandleSignals"/>), a
    /// failed model load, <see cref="IHostApplicationLifetime.StopApplication"/> or the token, then stops gracefully.
    /// </summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
