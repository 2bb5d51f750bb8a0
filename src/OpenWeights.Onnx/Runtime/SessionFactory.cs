using Microsoft.ML.OnnxRuntime;

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

    public static InferenceSession Create(string modelPath, RuntimeOptions options)
    {
        var env = Env.Value;
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
        try
        {
            if (options.AllowSpinning is bool spin)
                so.AddSessionConfigEntry("session.intra_op.allow_spinning", spin ? "1" : "0");
            AppendProvider(so, options.ExecutionProvider, env);
            return new InferenceSession(modelPath, so);
        }
        catch
        {
            so.Dispose();
            throw;
        }
    }

    private static void AppendProvider(SessionOptions so, ExecutionTarget target, OrtEnv env)
    {
        if (target == ExecutionTarget.Cpu)
            return;
        string provider = target == ExecutionTarget.Cuda ? "CUDAExecutionProvider" : "TensorrtExecutionProvider";
        if (!env.GetAvailableProviders().Contains(provider))
            throw new ModelLoadException(
                $"execution provider '{target.ToString().ToLowerInvariant()}' is not available in this build of owonnx " +
                $"(available: {string.Join(", ", env.GetAvailableProviders())}); build with -p:OwonnxGpu=true on a machine with CUDA 13.");
        try
        {
            if (target == ExecutionTarget.Cuda)
                so.AppendExecutionProvider_CUDA(0);
            else
                so.AppendExecutionProvider_Tensorrt(0);
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            throw new ModelLoadException(
                $"execution provider '{target.ToString().ToLowerInvariant()}' could not start on this machine: {e.Message}", e);
        }
    }
}
