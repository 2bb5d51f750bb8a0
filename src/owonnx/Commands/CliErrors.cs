using Microsoft.ML.OnnxRuntime;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>Turns failures into one clear line on stderr and a non-zero exit code, never a stack trace.</summary>
internal static class CliErrors
{
    public const int Failure = 1;
    public const int Usage = 2;
    public const int Cancelled = 130;

    public static int Run(Func<int> command)
    {
        try
        {
            return command();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("owonnx: cancelled; nothing was written.");
            return Cancelled;
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"owonnx: {e.Message}");
            return Usage;
        }
        catch (Exception e) when (e is CheckpointException or ModelLoadException or TokenizerException
                                      or ContextOverflowException or InvalidOperationException or IOException
                                      or UnauthorizedAccessException or OnnxRuntimeException or InvalidDataException
                                      or NotSupportedException or Generation.ChatTemplateException)
        {
            Console.Error.WriteLine($"owonnx: {e.Message}");
            return Failure;
        }
        catch (Exception e)
        {
            // Unexpected: still one line for the user, the type says where to look.
            Console.Error.WriteLine($"owonnx: internal error ({e.GetType().Name}): {e.Message}");
            return Failure;
        }
    }

    public static async Task<int> RunAsync(Func<Task<int>> command)
    {
        try
        {
            return await command();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Run(() => throw e);
        }
    }
}
