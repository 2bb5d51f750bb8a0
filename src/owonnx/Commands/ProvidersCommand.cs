using System.CommandLine;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary><c>owonnx providers</c>: which execution providers this build has and whether each starts here.</summary>
internal static class ProvidersCommand
{
    public static Command Create()
    {
        var deviceId = CliOptions.Int("--device-id", "CUDA device ordinal to try", 0, 0, 1023);
        var command = new Command("providers",
            "List the execution providers in this build of owonnx and whether each can start on this machine (exit 1 when one cannot).")
        {
            deviceId,
        };
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(() =>
        {
            var available = SessionFactory.AvailableProviders();
            bool allStart = true;
            foreach (var target in Enum.GetValues<ExecutionTarget>())
            {
                string name = SessionFactory.ProviderName(target);
                string status;
                if (!available.Contains(name))
                    status = "not in this build";
                else
                {
                    try
                    {
                        SessionFactory.EnsureCanStart(target, new GpuOptions { DeviceId = parse.GetValue(deviceId) });
                        status = "ready";
                    }
                    catch (ModelLoadException e)
                    {
                        status = e.Message;
                        allStart = false;
                    }
                }
                Console.WriteLine($"{target.ToString().ToLowerInvariant(),-9} {name,-26} {status}");
            }
            // Exit 1 when a provider of this build cannot start, so scripts can stop early.
            return Task.FromResult(allStart ? CliErrors.Success : CliErrors.Failure);
        }));
        return command;
    }
}
