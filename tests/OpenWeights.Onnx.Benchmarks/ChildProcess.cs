using System.Globalization;
using System.Text;
using CliWrap;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// Runs a program to completion for a benchmark (owonnx, llama-bench, python) and reports what it printed and its
/// memory peaks, polled from /proc while it runs. A non-zero exit throws with the program's stderr.
/// </summary>
internal static class ChildProcess
{
    public sealed record Result(string Stdout, string Stderr, long PeakResident, long PeakAnonymous, TimeSpan Elapsed);

    public static Result Run(string program, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null, int pollMilliseconds = 20)
    {
        var args = arguments.ToList();
        string shown = $"{program} {string.Join(' ', args)}";
        Console.Error.WriteLine($"> {shown}");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var command = Cli.Wrap(program).WithArguments(args)
            .WithValidation(CommandResultValidation.None)
            .WithStandardOutputPipe(PipeTarget.ToStringBuilder(stdout))
            .WithStandardErrorPipe(PipeTarget.ToStringBuilder(stderr));
        if (environment is not null)
            command = command.WithEnvironmentVariables(environment);
        var running = command.ExecuteAsync();
        long peak = 0, anonymous = 0;
        while (!running.Task.Wait(pollMilliseconds))
        {
            peak = Math.Max(peak, StatusKiB(running.ProcessId, "VmHWM:") * 1024);
            anonymous = Math.Max(anonymous, StatusKiB(running.ProcessId, "RssAnon:") * 1024);
        }
        var result = running.Task.Result;
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"{shown} exited with {result.ExitCode}: {stderr}");
        return new Result(stdout.ToString(), stderr.ToString(), peak, anonymous, result.RunTime);
    }

    /// <summary>A kB field of /proc/PID/status, or 0 once the process is gone.</summary>
    private static long StatusKiB(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }
}
