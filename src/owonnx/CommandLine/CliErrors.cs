using Microsoft.ML.OnnxRuntime;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Cli.CommandLine;

/// <summary>A command line that cannot work as given (exit code 2); the message names the option as typed.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// Exit codes and the one error style of every command: a single line on stderr,
/// <c>owonnx: &lt;what is wrong&gt; (&lt;what to do&gt;)</c>, never a stack trace.
/// </summary>
internal static class CliErrors
{
    public const int Success = 0;
    /// <summary>The command line was fine but the work failed (bad model folder, I/O, runtime error).</summary>
    public const int Failure = 1;
    /// <summary>The command line itself is wrong (unknown option, value out of range, missing argument).</summary>
    public const int Usage = 2;
    public const int Cancelled = Interrupts.ExitCode;

    public static void Write(string message) => Console.Error.WriteLine($"owonnx: {InOwonnxStyle(message)}");

    /// <summary>
    /// Library messages read "what is wrong; what to do."; on the command line every error reads
    /// "what is wrong (what to do)".
    /// </summary>
    private static string InOwonnxStyle(string message)
    {
        message = message.Trim().TrimEnd('.');
        int hint = message.LastIndexOf("; ", StringComparison.Ordinal);
        return message.EndsWith(')') || hint < 0 ? message : $"{message[..hint]} ({message[(hint + 2)..]})";
    }

    /// <param name="afterCancel">What a cancelled run leaves behind, for the user (e.g. "nothing was written").</param>
    public static async Task<int> RunAsync(Func<Task<int>> command, string? afterCancel = null)
    {
        try
        {
            return await command();
        }
        catch (OperationCanceledException)
        {
            Write(afterCancel is null ? "cancelled" : $"cancelled ({afterCancel})");
            return Cancelled;
        }
        catch (UsageException e)
        {
            Write(e.Message);
            return Usage;
        }
        catch (ContextOverflowException e)
        {
            Write($"the prompt and --max-new-tokens need {e.Needed} tokens but the cache holds {e.MaxLength} " +
                  "(use a shorter prompt, a smaller --max-new-tokens or a larger --max-length, up to the model's context length)");
            return Failure;
        }
        catch (OutputExistsException e)
        {
            Write($"{e.Path}: the output folder exists and is not empty (pass --overwrite to replace it)");
            return Failure;
        }
        catch (ArgumentException e)
        {
            // The library validates what it is given; here the CLI's own checks have passed, so this names a value
            // from the command line that the library refused.
            Write(WithoutParameterName(e));
            return Usage;
        }
        catch (Exception e) when (e is CheckpointException or ModelLoadException or TokenizerException
                                      or InvalidOperationException or IOException or UnauthorizedAccessException
                                      or OnnxRuntimeException or InvalidDataException or NotSupportedException
                                      or Generation.ChatTemplateException)
        {
            Write(e.Message);
            return Failure;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Unexpected: still one line for the user; the type says where to look.
            Write($"internal error: {e.Message} ({e.GetType().Name}; please report it)");
            return Failure;
        }
    }

    /// <summary>ArgumentException appends " (Parameter 'x')" to its message; users never see .NET's parameter names.</summary>
    private static string WithoutParameterName(ArgumentException e) =>
        e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
}
