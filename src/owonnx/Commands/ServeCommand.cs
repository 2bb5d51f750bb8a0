using System.CommandLine;
using System.Runtime.InteropServices;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Server;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary><c>owonnx serve &lt;model&gt;</c>: the OpenAI-compatible HTTP server until SIGTERM or Ctrl-C.</summary>
internal static class ServeCommand
{
    public static Command Create(Interrupts interrupts)
    {
        var model = new Argument<string>("model") { Description = "Converted model folder" }.RejectingOptions("serve");
        var host = CliOptions.Text("--host", "Address to listen on: an IP address or localhost (default: 127.0.0.1)");
        var port = CliOptions.Int("--port", "TCP port (0 picks a free one)", 8080, 0, 65535);
        var apiKey = CliOptions.Text("--api-key", $"Require 'Authorization: Bearer KEY' on /v1 (default: ${ServerOptions.ApiKeyEnvironmentVariable}; none = open)");
        var maxBatch = CliOptions.Int("--max-batch", "Sequences decoded together (batch slots)", 8, 1, 256);
        var maxQueue = CliOptions.Int("--max-queue", "Requests that may wait for a slot; more get 429", 64, 0);
        var maxLength = CliOptions.OptionalInt("--max-length",
            "KV cache length per sequence in tokens, prompt + completion (default: 2048, capped at the model's context)", 2);
        var ep = CliOptions.Choice("--ep", "Execution provider", "cpu", "cpu", "cuda", "tensorrt");
        var threads = CliOptions.OptionalInt("--threads", "ONNX Runtime intra-op threads (default: one per core; they do not spin between ops)", 1, RuntimeOptions.MaxThreads);
        var modelName = CliOptions.Text("--model-name", "Model id clients name in 'model' (default: the folder's name)");
        var shutdownTimeout = CliOptions.Double("--shutdown-timeout", "Seconds in-flight requests may take to finish on shutdown", 30,
            s => s is >= 0 and <= 3600, "a number of seconds from 0 to 3600");
        var prefillChunk = CliOptions.Int("--prefill-chunk",
            "Most prompt tokens read between two decode steps (a long prompt stalls others by one chunk at most)",
            OpenWeights.Onnx.Server.Scheduling.Scheduler.DefaultPrefillChunk, 1, 1 << 20);
        var noPrefixCache = CliOptions.Flag("--no-prefix-cache",
            "Do not reuse the keys and values of a prompt prefix the server still holds (default: reuse them; exact either way)");
        var adapter = new Option<string[]>("--adapter")
        {
            Description = "Serve a run-time LoRA adapter ('owonnx adapter') as model id NAME: NAME=FILE; repeatable (default: none)",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var chatTemplate = CliOptions.Text("--chat-template", "A Jinja chat template file to use instead of the model's own (e.g. one that shows tools; default: the model's own)");
        var toolCallFormat = CliOptions.Choice("--tool-call-format",
            "How the model writes tool calls: auto (from its chat template and tokenizer), none (tools refused), or a format",
            "auto", "auto", "none", "hermes", "llama3", "mistral", "mistral-args");
        var device = new DeviceOptionSet();
        var maxBodyBytes = CliOptions.Long("--max-body-bytes", "Largest request body accepted in bytes (larger: 413)", 4 * 1024 * 1024, 1024);
        var command = new Command("serve",
            "Serve a converted model over an OpenAI-compatible HTTP API: /v1/chat/completions, /v1/completions, /v1/models, " +
            "/health, /metrics. One log line per request on stderr. SIGTERM or Ctrl-C stops it gracefully.")
        {
            model, host, port, apiKey, maxBatch, maxQueue, maxLength, ep, threads, modelName, shutdownTimeout, maxBodyBytes, prefillChunk, noPrefixCache, adapter,
            chatTemplate, toolCallFormat,
        };
        device.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(async () =>
        {
            string folder = parse.GetValue(model)!;
            var options = new ServerOptions
            {
                ModelDirectory = folder,
                ModelName = parse.GetValue(modelName),
                Host = parse.GetValue(host) ?? "127.0.0.1",
                Port = parse.GetValue(port),
                ApiKey = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable(ServerOptions.ApiKeyEnvironmentVariable),
                MaxBatch = parse.GetValue(maxBatch),
                MaxQueue = parse.GetValue(maxQueue),
                MaxLength = parse.GetValue(maxLength),
                ExecutionProvider = ExecutionTargets.Parse(parse.GetValue(ep)!),
                Threads = parse.GetValue(threads),
                Gpu = device.Read(parse),
                MaxBodyBytes = parse.GetValue(maxBodyBytes),
                PrefillChunk = parse.GetValue(prefillChunk),
                PrefixCache = !parse.GetValue(noPrefixCache),
                Adapters = (parse.GetValue(adapter) ?? []).Select(ServedAdapterOption.Parse).ToList(),
                ChatTemplateFile = parse.GetValue(chatTemplate),
                ToolCallFormat = parse.GetValue(toolCallFormat)!,
                ShutdownTimeout = TimeSpan.FromSeconds(parse.GetValue(shutdownTimeout)),
                // Signals come through Interrupts, which also knows which one arrived (SIGTERM: exit 0, Ctrl-C: 130).
                HandleSignals = false,
            };
            if (!System.Net.IPAddress.TryParse(options.Host, out _) && !options.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
                throw new UsageException($"{CliOptions.Typed(parse, host)} '{options.Host}' is not an IP address (use e.g. 127.0.0.1, 0.0.0.0, ::1 or localhost)");
            // Fail before binding the port when the folder cannot be a model at all.
            if (!Directory.Exists(folder))
                throw new UsageException($"{folder}: model folder not found (give a folder made by owonnx convert)");
            await using var server = OpenAiServer.Create(options);
            await server.StartAsync(interrupts.Token);
            Console.Error.WriteLine(
                $"owonnx: serving {string.Join(", ", [options.EffectiveModelName, .. options.Adapters.Select(a => a.Name)])} on {server.BaseAddress} (max batch {options.MaxBatch}, max queue {options.MaxQueue}" +
                $"{(string.IsNullOrEmpty(options.ApiKey) ? ", no API key" : ", API key required")}); loading the model…");
            _ = server.Model.Ready.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully)
                    Console.Error.WriteLine($"owonnx: model loaded; ready (max length {t.Result.MaxLength} tokens).");
            }, TaskScheduler.Default);
            await server.WaitForShutdownAsync(interrupts.Token);
            if (server.Model.LoadError is { } error && server.Model.Ready.IsFaulted)
            {
                CliErrors.Write(error);
                return CliErrors.Failure;
            }
            Console.Error.WriteLine("owonnx: stopped.");
            // SIGTERM is how a service manager stops a server: an ordinary, successful end.
            return interrupts.Received == PosixSignal.SIGINT ? CliErrors.Cancelled : CliErrors.Success;
        }));
        return command;
    }
}
