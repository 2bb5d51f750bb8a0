using OpenWeights.Onnx.Hub;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>A checkpoint argument that may be a Hub model id: the folder to read, pulling it first when needed.</summary>
internal static class HubArgument
{
    public static string ResolveCheckpoint(string argument, CancellationToken cancellationToken)
    {
        if (!HubCheckpoint.NamesHubModel(argument))
            return argument;
        using var display = new PullDisplay();
        return HubCheckpoint.ResolveAsync(argument, HubSettings.FromEnvironment(), display, cancellationToken).GetAwaiter().GetResult();
    }
}
