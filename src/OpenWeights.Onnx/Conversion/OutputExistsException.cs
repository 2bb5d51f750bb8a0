namespace OpenWeights.Onnx.Conversion;

/// <summary>The output folder of a conversion already holds files and <see cref="ConversionOptions.Overwrite"/> is off.</summary>
public sealed class OutputExistsException(string path)
    : IOException($"{path}: output folder exists and is not empty; set ConversionOptions.Overwrite to replace it.")
{
    public string Path { get; } = path;
}
