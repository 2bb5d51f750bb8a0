using System.Text.Json;
using System.Text.Json.Serialization;
using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Adapters;

/// <summary>
/// A linear layer of a converted graph that takes a run-time adapter: the graph inputs <c>{Input}.lora_A</c>
/// [batch or 1, in, rank] and <c>{Input}.lora_B</c> [batch or 1, rank, out], and the checkpoint weight it adapts.
/// The converter lists every site in model.onnx's metadata (<see cref="MetadataKey"/>), which is how
/// <c>owonnx adapter</c> maps a PEFT adapter's modules onto a converted base without the original checkpoint.
/// </summary>
public sealed record LoraSite(
    [property: JsonPropertyName("input")] string Input,
    [property: JsonPropertyName("tensor")] string Tensor,
    [property: JsonPropertyName("start")] int OutputStart,
    [property: JsonPropertyName("out")] int OutFeatures,
    [property: JsonPropertyName("stored_out")] int StoredOutputs,
    [property: JsonPropertyName("in")] int InFeatures,
    [property: JsonPropertyName("input_major")] bool StoredInputMajor)
{
    public const string MetadataKey = "owonnx.lora_sites";
    public const string ASuffix = ".lora_A";
    public const string BSuffix = ".lora_B";

    public string AInput => Input + ASuffix;
    public string BInput => Input + BSuffix;

    public LoraTarget Target => new(
        new WeightRef(Tensor, OutputStart, OutputStart == 0 && OutFeatures == StoredOutputs ? null : OutFeatures, StoredInputMajor),
        StoredOutputs, InFeatures);

    public static string Serialize(IEnumerable<LoraSite> sites) => JsonSerializer.Serialize(sites.ToList());

    public static IReadOnlyList<LoraSite> Parse(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<List<LoraSite>>(json) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: metadata '{MetadataKey}' is not a valid list of adapter sites ({e.Message}).", e);
        }
    }
}
