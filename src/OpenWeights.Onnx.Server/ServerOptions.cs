using System.Net;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Server;

/// <summary>What <c>owonnx serve</c> serves and how: model, address, key, batch and queue sizes, limits.</summary>
/// <summary>A run-time adapter file served under its own model id.</summary>
public sealed record ServedAdapterOption(string Name, string Path)
{
    /// <summary>Parses NAME=FILE.</summary>
    public static ServedAdapterOption Parse(string text)
    {
        int eq = text.IndexOf('=');
        if (eq <= 0 || eq == text.Length - 1)
            throw new ArgumentException($"--adapter '{text}' must be NAME=FILE (the model id clients send, and a file made by 'owonnx adapter').");
        return new ServedAdapterOption(text[..eq], text[(eq + 1)..]);
    }
}

public sealed record ServerOptions
{
    public const string ApiKeyEnvironmentVariable = "OWONNX_API_KEY";

    /// <summary>Converted model folder.</summary>
    public required string ModelDirectory { get; init; }
    /// <summary>The id clients name in <c>model</c>; default: the folder's name.</summary>
    public string? ModelName { get; init; }
    /// <summary>Run-time adapters (<c>owonnx adapter</c> files), each served as its own model id over the one base.</summary>
    public IReadOnlyList<ServedAdapterOption> Adapters { get; init; } = [];
    /// <summary>A Jinja chat template file used instead of the model's own (e.g. one that supports tools).</summary>
    public string? ChatTemplateFile { get; init; }
    /// <summary>
    /// How the model writes tool calls: "auto" (from its chat template and tokenizer), "none" (tools refused),
    /// or a format name (hermes, llama3, mistral, mistral-args).
    /// </summary>
    public string ToolCallFormat { get; init; } = "auto";
    /// <summary>An IP address, or "localhost" (the IPv4 loopback).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>TCP port; 0 picks a free one (see <see cref="OpenAiServer.BaseAddress"/>).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>When set, /v1 requests need <c>Authorization: Bearer ApiKey</c>.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Sequences decoded together (slots of the one batch decoder).</summary>
    public int MaxBatch { get; init; } = 8;
    /// <summary>Requests that may wait for a slot; beyond this the server answers 429.</summary>
    public int MaxQueue { get; init; } = 64;
    /// <summary>KV cache length per sequence (prompt + completion); default as the runtime's.</summary>
    public int? MaxLength { get; init; }
    public ExecutionTarget ExecutionProvider { get; init; } = ExecutionTarget.Cpu;
    /// <summary>CUDA/TensorRT settings (device, CUDA graphs, TensorRT cache); ignored on the CPU.</summary>
    public GpuOptions Gpu { get; init; } = new();
    /// <summary>
    /// ONNX Runtime intra-op threads; default: one per core. The threads do not spin between ops
    /// (<see cref="RuntimeOptions.AllowSpinning"/> off): spinning threads took the cores from the request threads, and
    /// on a busy machine from each other (decode 4–9× slower on two shared cores, measured with bench --spinning).
    /// </summary>
    public int? Threads { get; init; }

    public int EffectiveThreads => Threads ?? Environment.ProcessorCount;
    /// <summary>Most prompt tokens read between two decode steps (a long prompt stalls running sequences by one chunk at most).</summary>
    public int PrefillChunk { get; init; } = Scheduling.Scheduler.DefaultPrefillChunk;
    /// <summary>
    /// Reuse the keys and values of prompt prefixes the server still holds (a chat's earlier turns, a shared system
    /// prompt) instead of recomputing them; the output is the same either way (<see cref="Scheduling.PrefixCache"/>).
    /// </summary>
    public bool PrefixCache { get; init; } = true;
    /// <summary>Request bodies larger than this are refused with 413.</summary>
    public long MaxBodyBytes { get; init; } = 4 * 1024 * 1024;
    /// <summary>On shutdown, in-flight requests may finish for this long; then they are cancelled.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Stop on SIGTERM/Ctrl-C (the command line); off for servers hosted inside another process.</summary>
    public bool HandleSignals { get; init; } = true;
    /// <summary>Write warnings and errors to the console.</summary>
    public bool ConsoleLogging { get; init; } = true;
    /// <summary>Stop the server when the model fails to load (the command line); otherwise /health reports it.</summary>
    public bool StopOnLoadFailure { get; init; } = true;

    public string EffectiveModelName =>
        ModelName is { Length: > 0 } name ? name : Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(ModelDirectory)));

    public IPAddress ListenAddress =>
        Host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
        : IPAddress.TryParse(Host, out var address) ? address
        : throw new ArgumentException($"--host '{Host}' must be an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1) or localhost.");

    public RuntimeOptions ToRuntimeOptions() => new()
    {
        ExecutionProvider = ExecutionProvider,
        Gpu = Gpu,
        MaxLength = MaxLength,
        MaxBatch = MaxBatch,
        Threads = EffectiveThreads,
        AllowSpinning = false,
    };

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelDirectory))
            throw new ArgumentException("a model folder is required.");
        _ = ListenAddress;
        if (ChatTemplateFile is not null && !File.Exists(ChatTemplateFile))
            throw new ArgumentException($"--chat-template '{ChatTemplateFile}' does not exist.");
        if (ToolCallFormat is not ("auto" or "none"))
            _ = Generation.Tools.ToolCallFormat.FromName(ToolCallFormat);
        if (Port is < 0 or > 65535)
            throw new ArgumentException($"--port {Port} must be between 0 and 65535.");
        if (MaxBatch is < 1 or > 256)
            throw new ArgumentException($"--max-batch {MaxBatch} must be between 1 and 256.");
        if (PrefillChunk < 1)
            throw new ArgumentException($"--prefill-chunk {PrefillChunk} must be at least 1.");
        if (MaxQueue < 0)
            throw new ArgumentException($"--max-queue {MaxQueue} must be at least 0.");
        if (MaxBodyBytes < 1024)
            throw new ArgumentException($"--max-body-bytes {MaxBodyBytes} must be at least 1024.");
        if (ShutdownTimeout < TimeSpan.Zero)
            throw new ArgumentException("--shutdown-timeout must not be negative.");
        ToRuntimeOptions().Validate();
        var names = new HashSet<string>(StringComparer.Ordinal) { EffectiveModelName };
        foreach (var a in Adapters)
        {
            if (string.IsNullOrWhiteSpace(a.Name))
                throw new ArgumentException($"--adapter '{a.Name}={a.Path}' needs a name (NAME=FILE).");
            if (!names.Add(a.Name))
                throw new ArgumentException($"--adapter name '{a.Name}' is used twice (or is the base model's id); each model id must be unique.");
        }
    }
}
