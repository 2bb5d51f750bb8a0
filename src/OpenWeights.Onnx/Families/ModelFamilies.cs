using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Families;

/// <summary>The set of families a converter knows, looked up by the checkpoint's architecture.</summary>
public sealed class ModelFamilies(IEnumerable<IModelFamily> families)
{
    private readonly IReadOnlyList<IModelFamily> _families = families.ToList();

    public IEnumerable<string> SupportedArchitectures =>
        _families.SelectMany(f => f.Architectures).Order(StringComparer.Ordinal);

    public IModelFamily For(string architecture, string configPath) =>
        _families.FirstOrDefault(f => f.Architectures.Contains(architecture, StringComparer.Ordinal))
        ?? throw new CheckpointException(
            $"{configPath}: architecture '{architecture}' is not supported. Supported: {string.Join(", ", SupportedArchitectures)}.");
}
