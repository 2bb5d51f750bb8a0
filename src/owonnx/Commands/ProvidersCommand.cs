using Cocona;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Cli.Commands;

public sealed class ProvidersCommand
{
    [Command("providers", Description = "List the execution providers in this build of owonnx and whether each can start on this machine.")]
    public int Providers([Option("device-id", Description = "CUDA device ordinal to try")] int deviceId = 0)
    {
        return CliErrors.Run(() =>
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
                        SessionFactory.EnsureCanStart(target, new GpuOptions { DeviceId = deviceId });
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
            return allStart ? 0 : CliErrors.Failure;
        });
    }
}
