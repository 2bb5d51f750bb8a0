using Cocona;
using OpenWeights.Onnx.Server;

namespace OpenWeights.Onnx.Cli.Commands;

public sealed class ServeCommand
{
    [Command("serve", Description = "Serve a converted model over an OpenAI-compatible HTTP API: /v1/chat/completions, " +
                                    "/v1/completions, /v1/models, /health, /metrics. SIGTERM or Ctrl-C stops it gracefully.")]
    public Task<int> Serve(
        [FromService] CoconaAppContext context,
        [Argument(Description = "Converted model folder")] string model,
        DeviceParameters device,
        [Option(Description = "Address to listen on: an IP address or localhost")] string host = "127.0.0.1",
        [Option(Description = "TCP port (0 picks a free one)")] int port = 8080,
        [Option("api-key", Description = "Require 'Authorization: Bearer KEY' on /v1 (default: $OWONNX_API_KEY; none = open)")] string? apiKey = null,
        [Option("max-batch", Description = "Sequences decoded together (batch slots)")] int maxBatch = 8,
        [Option("max-queue", Description = "Requests that may wait for a slot; more get 429")] int maxQueue = 64,
        [Option("max-length", Description = "KV cache length per sequence in tokens (prompt + completion)")] int? maxLength = null,
        [Option(Description = "Execution provider: cpu, cuda, tensorrt")] string ep = "cpu",
        [Option(Description = "Intra-op threads (default: one per core but one, which serves HTTP)")] int? threads = null,
        [Option("model-name", Description = "Model id clients name in 'model' (default: the folder's name)")] string? modelName = null,
        [Option("shutdown-timeout", Description = "Seconds in-flight requests may take to finish on shutdown")] double shutdownTimeout = 30,
        [Option("max-body-bytes", Description = "Largest request body accepted (larger: 413)")] long maxBodyBytes = 4 * 1024 * 1024,
        [Option("prefill-chunk", Description = "Most prompt tokens read between two decode steps (a long prompt stalls others by one chunk at most)")] int prefillChunk = OpenWeights.Onnx.Server.Scheduling.Scheduler.DefaultPrefillChunk,
        [Option(Description = "Serve a run-time LoRA adapter ('owonnx adapter') as model id NAME: NAME=FILE (repeatable)")] string[]? adapter = null)
    {
        return CliErrors.RunAsync(async () =>
        {
            var options = new ServerOptions
            {
                ModelDirectory = model,
                ModelName = modelName,
                Adapters = (adapter ?? []).Select(ServedAdapterOption.Parse).ToList(),
                Host = host,
                Port = port,
                ApiKey = apiKey ?? Environment.GetEnvironmentVariable(ServerOptions.ApiKeyEnvironmentVariable),
                MaxBatch = maxBatch,
                MaxQueue = maxQueue,
                MaxLength = maxLength,
                ExecutionProvider = CliParse.Target(ep),
                Gpu = device.ToGpuOptions(),
                Threads = threads,
                PrefillChunk = prefillChunk,
                MaxBodyBytes = maxBodyBytes,
                ShutdownTimeout = double.IsFinite(shutdownTimeout) && shutdownTimeout >= 0
                    ? TimeSpan.FromSeconds(shutdownTimeout)
                    : throw new ArgumentException($"--shutdown-timeout {shutdownTimeout} must be a number of seconds >= 0."),
            };
            // Fail before binding the port when the folder cannot be a model at all.
            if (!Directory.Exists(model))
                throw new ArgumentException($"{model}: model folder not found.");
            await using var server = OpenAiServer.Create(options);
            await server.StartAsync(context.CancellationToken);
            Console.Error.WriteLine(
                $"owonnx: serving {string.Join(", ", [options.EffectiveModelName, .. options.Adapters.Select(a => a.Name)])} on {server.BaseAddress} (max batch {maxBatch}, max queue {maxQueue}" +
                $"{(string.IsNullOrEmpty(options.ApiKey) ? ", no API key" : ", API key required")}); loading the model…");
            _ = server.Model.Ready.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully)
                    Console.Error.WriteLine($"owonnx: model loaded; ready (max length {t.Result.MaxLength} tokens).");
            }, TaskScheduler.Default);
            await server.WaitForShutdownAsync(context.CancellationToken);
            if (server.Model.LoadError is { } error && server.Model.Ready.IsFaulted)
            {
                Console.Error.WriteLine($"owonnx: {error}");
                return CliErrors.Failure;
            }
            Console.Error.WriteLine("owonnx: stopped.");
            return 0;
        });
    }
}
