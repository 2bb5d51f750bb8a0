using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Models;

namespace OpenWeights.Onnx.Families;

/// <summary>
/// What the converter needs to know about one family of checkpoints: how its <c>config.json</c> maps to a
/// <see cref="ModelDescription"/> and how its tensor names map to the decoder's weights. Implementations
/// live in <c>converters/</c>; everything else in the pipeline is family-agnostic.
/// </summary>
public interface IModelFamily
{
    /// <summary>The Hugging Face class names (<c>architectures[0]</c>) this family converts.</summary>
    IReadOnlyList<string> Architectures { get; }

    ModelDescription Describe(HfConfig config, GenerationConfig generation);

    DecoderWeights MapWeights(ModelDescription model, HfConfig config);

    /// <summary>
    /// The same, for families whose checkpoints spell tensor names more than one way (GPT-2 with or without the
    /// <c>transformer.</c> prefix): <paramref name="hasTensor"/> says whether the checkpoint holds a name.
    /// </summary>
    DecoderWeights MapWeights(ModelDescription model, HfConfig config, Func<string, bool> hasTensor) =>
        MapWeights(model, config);
}
