using OpenWeights.Onnx.Models;

namespace OpenWeights.Onnx.Conversion;

public sealed record ConversionResult(
    string OutputDirectory,
    ModelDescription Model,
    int Tensors,
    long Parameters,
    long DataBytes,
    TimeSpan Elapsed)
{
    /// <summary>Tensors holding NaN or ±Inf, converted anyway because <see cref="ConversionOptions.AllowNonFinite"/> was set.</summary>
    public IReadOnlyList<string> NonFiniteTensors { get; init; } = [];

    public string Summary =>
        $"converted {Model.Architecture} → {OutputDirectory}: {Tensors} tensors, {Parameters:N0} parameters, " +
        $"{DataBytes / 1048576.0:F1} MiB, {Elapsed.TotalSeconds:F1} s";
}
