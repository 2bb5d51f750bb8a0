using Microsoft.ML.OnnxRuntime;
using OpenWeights.Onnx.Onnx.Proto;

namespace OpenWeights.Onnx.Runtime;

/// <summary>ONNX Runtime sessions with deliberately chosen options and a clear error for a missing provider.</summary>
public static class SessionFactory
{
    private static readonly Lazy<OrtEnv> Env = new(() =>
    {
        var env = OrtEnv.Instance();
        env.DisableTelemetryEvents();
        return env;
    });

    /// <summary>The execution providers compiled into the ONNX Runtime this process loaded.</summary>
    public static IReadOnlyList<string> AvailableProviders() => Env.Value.GetAvailableProviders();

    public static string ProviderName(ExecutionTarget target) => target switch
    {
        ExecutionTarget.Cuda => ProviderOptions.CudaProvider,
        ExecutionTarget.TensorRt => ProviderOptions.TensorRtProvider,
        _ => "CPUExecutionProvider",
    };

    /// <summary>Environment variable: when set, sessions write an ONNX Runtime profile (JSON) with this path prefix.</summary>
    public const string ProfileVariable = "OWONNX_ORT_PROFILE";

    /// <summary>
    /// Environment variable for measurements: extra ONNX Runtime session config entries, <c>key=value</c> separated by
    /// <c>;</c> (e.g. <c>session.disable_prepacking=1</c>), applied after owonnx's own.
    /// </summary>
    public const string ConfigVariable = "OWONNX_ORT_CONFIG";

    public static InferenceSession Create(GenAiConfig config, RuntimeOptions options)
    {
        var env = Env.Value;
        string modelPath = Path.Combine(config.Directory, config.ModelFile);
        var so = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            // One decoder step is a chain of dependent ops: parallelism lives inside each op.
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = options.Threads ?? Environment.ProcessorCount,
            InterOpNumThreads = 1,
            // The arena keeps activation buffers between steps instead of returning them to the OS.
            EnableCpuMemArena = true,
            // Shapes change every step (sequence length), so a memory pattern would be re-planned each time.
            EnableMemoryPattern = false,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        // For the device check (eng/device-check): ORT's profile records, per node, the provider it ran on.
        if (Environment.GetEnvironmentVariable(ProfileVariable) is { Length: > 0 } profilePrefix)
        {
            // The prefix first: enabling passes the current prefix to ORT.
            so.ProfileOutputPathPrefix = profilePrefix;
            so.EnableProfiling = true;
        }
        try
        {
            if (options.AllowSpinning is bool spin)
                so.AddSessionConfigEntry("session.intra_op.allow_spinning", spin ? "1" : "0");
            foreach (var (key, value) in ExtraConfig(Environment.GetEnvironmentVariable(ConfigVariable)))
                so.AddSessionConfigEntry(key, value);
            switch (options.ExecutionProvider)
            {
                case ExecutionTarget.Cuda:
                    AppendCuda(so, options.Gpu);
                    break;
                case ExecutionTarget.TensorRt:
                    var profiles = TensorRtProfiles.For(GraphInputNames(modelPath), config, options.MaxBatch,
                        options.EffectiveMaxLength(config));
                    AppendTensorRt(so, options.Gpu, profiles);
                    // TensorRT parses standard ONNX only; contrib ops (GroupQueryAttention, MatMulNBits) go to CUDA.
                    AppendCuda(so, options.Gpu);
                    break;
            }
            return CreateSession(modelPath, so, options.ExecutionProvider);
        }
        catch
        {
            so.Dispose();
            throw;
        }
    }

    private static IEnumerable<(string Key, string Value)> ExtraConfig(string? text)
    {
        foreach (var entry in (text ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = entry.IndexOf('=');
            if (eq <= 0)
                throw new ArgumentException($"{ConfigVariable}: '{entry}' is not key=value (entries are separated by ';').");
            yield return (entry[..eq].Trim(), entry[(eq + 1)..].Trim());
        }
    }

    /// <summary>
    /// A session for a small graph the runtime builds itself (<see cref="ProviderCopier"/>) on the decoder's provider
    /// and device: CUDA for CUDA and TensorRT alike (TensorRT's memory is CUDA memory), unoptimized so that the
    /// graph runs as written.
    /// </summary>
    public static InferenceSession CreateForCopies(byte[] model, ExecutionTarget target, GpuOptions gpu)
    {
        _ = Env.Value;
        var so = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL,
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        try
        {
            if (target != ExecutionTarget.Cpu)
                AppendCuda(so, gpu);
            return new InferenceSession(model, so);
        }
        catch
        {
            so.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks that <paramref name="target"/> can start here: compiled in, and its provider library and the
    /// CUDA/cuDNN/TensorRT libraries it links found. Throws <see cref="ModelLoadException"/> saying what is missing.
    /// </summary>
    public static void EnsureCanStart(ExecutionTarget target, GpuOptions? gpu = null)
    {
        using var so = new SessionOptions();
        gpu ??= new GpuOptions();
        if (target == ExecutionTarget.Cuda)
            AppendCuda(so, gpu);
        else if (target == ExecutionTarget.TensorRt)
            AppendTensorRt(so, gpu, new TensorRtProfiles("", "", ""));
    }

    private static void AppendCuda(SessionOptions so, GpuOptions gpu)
    {
        RequireCompiledIn(ExecutionTarget.Cuda);
        StartingProvider(ExecutionTarget.Cuda, () =>
        {
            // Creating the options object already loads the provider library and the CUDA libraries it links.
            using var cuda = new OrtCUDAProviderOptions();
            cuda.UpdateOptions(ProviderOptions.Cuda(gpu));
            so.AppendExecutionProvider_CUDA(cuda);
        });
    }

    private static void AppendTensorRt(SessionOptions so, GpuOptions gpu, TensorRtProfiles profiles)
    {
        RequireCompiledIn(ExecutionTarget.TensorRt);
        StartingProvider(ExecutionTarget.TensorRt, () =>
        {
            using var trt = new OrtTensorRTProviderOptions();
            var values = ProviderOptions.TensorRt(gpu, profiles);
            if (profiles.Min.Length == 0)
            {
                values.Remove("trt_profile_min_shapes");
                values.Remove("trt_profile_opt_shapes");
                values.Remove("trt_profile_max_shapes");
            }
            trt.UpdateOptions(values);
            so.AppendExecutionProvider_Tensorrt(trt);
        });
    }

    private static void RequireCompiledIn(ExecutionTarget target)
    {
        var available = AvailableProviders();
        if (!available.Contains(ProviderName(target)))
            throw new ModelLoadException(
                $"execution provider '{Name(target)}' is not available in this build of owonnx " +
                $"(available: {string.Join(", ", available)}); build with -p:OwonnxGpu=true on a machine with CUDA 13.");
    }

    /// <summary>
    /// Appends a GPU provider, which loads its native library and the CUDA/cuDNN/TensorRT libraries it links.
    /// ORT logs a failed dlopen itself before returning the error; that log is silenced here because the
    /// exception becomes one clear message naming the missing library.
    /// </summary>
    private static void StartingProvider(ExecutionTarget target, Action append)
    {
        var env = Env.Value;
        var level = env.EnvLogLevel;
        env.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
        try
        {
            append();
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            throw new ModelLoadException(NativeLibraryHint.Explain(Name(target), e.Message), e);
        }
        finally
        {
            env.EnvLogLevel = level;
        }
    }

    /// <summary>Creates the session; a library some kernel loads lazily (cuDNN) can still be missing here.</summary>
    private static InferenceSession CreateSession(string modelPath, SessionOptions so, ExecutionTarget target)
    {
        try
        {
            return new InferenceSession(modelPath, so);
        }
        catch (OnnxRuntimeException e) when (target != ExecutionTarget.Cpu && NativeLibraryHint.MissingLibraryName(e.Message) is not null)
        {
            throw new ModelLoadException(NativeLibraryHint.Explain(Name(target), e.Message), e);
        }
    }

    private static IEnumerable<string> GraphInputNames(string modelPath)
    {
        using var stream = File.OpenRead(modelPath);
        var graph = ModelProto.Parser.ParseFrom(stream).Graph;
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return graph.Input.Select(i => i.Name).Where(n => !initializers.Contains(n)).ToList();
    }

    private static string Name(ExecutionTarget target) => target.ToString().ToLowerInvariant();
}
