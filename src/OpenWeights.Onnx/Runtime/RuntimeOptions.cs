namespace OpenWeights.Onnx.Runtime;

/// <summary>How a converted model is loaded and how much cache it gets.</summary>
public sealed record RuntimeOptions
{
    /// <summary>Default cache length: enough for real conversations without reserving a 128k context.</summary>
    public const int DefaultMaxLength = 2048;

    /// <summary>Sequences one decoder batches at most (the server's slots).</summary>
    public const int MaxBatchLimit = 256;

    /// <summary>
    /// Threads beyond a few per core only contend (ORT's workers spin), and asking for 100000 would make ORT create
    /// them all before anything runs: the limit turns such a typo into an error instead of a hang.
    /// </summary>
    public static int MaxThreads => Math.Max(64, 4 * Environment.ProcessorCount);

    public ExecutionTarget ExecutionProvider { get; init; } = ExecutionTarget.Cpu;
    /// <summary>Tokens per sequence the KV cache holds (prompt + generated). Clamped to the model's context.</summary>
    public int? MaxLength { get; init; }
    /// <summary>Sequences decoded together in one Run.</summary>
    public int MaxBatch { get; init; } = 1;
    /// <summary>Intra-op threads; null = one per core.</summary>
    public int? Threads { get; init; }
    /// <summary>
    /// Whether ORT's intra-op threads spin while waiting for work (null = ORT's default, on). Spinning saves the
    /// wake-up on every op of a step; off, idle threads leave the cores to other work (a server's request threads).
    /// </summary>
    public bool? AllowSpinning { get; init; }
    /// <summary>CUDA/TensorRT settings; ignored on the CPU.</summary>
    public GpuOptions Gpu { get; init; } = new();

    public int EffectiveMaxLength(GenAiConfig config) => Math.Min(MaxLength ?? DefaultMaxLength, config.ContextLength);

    public void Validate()
    {
        if (MaxLength is < 2)
            throw new ArgumentException($"{nameof(MaxLength)} {MaxLength} is out of range (use at least 2).");
        if (MaxBatch is < 1 or > MaxBatchLimit)
            throw new ArgumentException($"{nameof(MaxBatch)} {MaxBatch} is out of range (use 1 to {MaxBatchLimit}).");
        if (Threads is { } threads && (threads < 1 || threads > MaxThreads))
            throw new ArgumentException(
                $"{nameof(Threads)} {threads} is out of range (use 1 to {MaxThreads}; this machine has {Environment.ProcessorCount} cores).");
        Gpu.Validate();
        if (Gpu.CudaGraph && ExecutionProvider != ExecutionTarget.Cpu)
            throw new ArgumentException(CudaGraphRefusal);
    }

    /// <summary>
    /// Why <c>--cuda-graph</c> is refused, from ONNX Runtime 1.31's sources (onnxruntime/core/session/inference_session.cc:
    /// a session asked to capture fails to load if its graph has control-flow or MemcpyToHost/MemcpyFromHost nodes
    /// (TensorRT: unless every node is TensorRT's), and a captured run is replayed without copying feeds or fetches; contrib_ops/cuda/bert/group_query_attention.cc:
    /// total_sequence_length is a CPU input, read when the kernel is launched, so a replay keeps the captured value).
    /// </summary>
    public const string CudaGraphRefusal =
        "--cuda-graph is not supported by this runtime: ONNX Runtime captures a CUDA graph only when no node needs a copy " +
        "between host and device and replays it without copying inputs or outputs. owonnx graphs compute " +
        "GroupQueryAttention's total_sequence_length (a CPU input) from the attention mask's contents on the GPU, which " +
        "needs a device-to-host copy, and it changes every step while a replay would keep the captured value; ids and " +
        "mask are bound in pinned host memory and logits in host memory, which a replay would not refresh; LongRoPE " +
        "models also hold an If node; with --ep tensorrt it captures only when every node runs in TensorRT, and " +
        "GroupQueryAttention runs on CUDA. Run without --cuda-graph.";
}
