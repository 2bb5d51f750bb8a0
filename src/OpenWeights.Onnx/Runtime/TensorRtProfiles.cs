using System.Globalization;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// TensorRT optimisation profiles (the shapes an engine is built for) sized from the runtime's own limits:
/// what <see cref="BatchDecoder"/> binds is known exactly — ids [batch, tokens] and a fixed-width mask
/// [batch, max_length] — so the engine is built for 1…max-batch rows and 1…max-length new tokens, and tuned for a
/// decode step of every slot. The past key/value inputs are left out: only GroupQueryAttention reads them, which
/// runs on CUDA, so they are never an input of a TensorRT engine; ONNX Runtime 1.31's TensorRT provider applies a
/// profile entry only to an engine input of that name and compares the number of entries with an engine's inputs
/// when it reuses a cached engine (tensorrt_execution_provider.cc, CompareProfiles), so names of no engine input
/// only cause rebuilds. Format: "name:AxB,name:AxB" (ParseProfileShapes).
/// </summary>
/// <remarks>
/// Engines also take intermediate tensors as inputs (each GroupQueryAttention output, the residual stream across it);
/// those have no explicit profile, so the provider sizes them from the shapes it meets and rebuilds an engine when a
/// run exceeds them. How often that happens over a generation is only measurable on a GPU.
/// </remarks>
public sealed record TensorRtProfiles(string Min, string Opt, string Max)
{
    public static TensorRtProfiles For(IEnumerable<string> inputNames, GenAiConfig config, int maxBatch, int maxLength)
    {
        var pastNames = Enumerable.Range(0, config.NumLayers)
            .SelectMany(l => new[] { config.PastKey(l), config.PastValue(l) })
            .ToHashSet(StringComparer.Ordinal);
        List<string> min = [], opt = [], max = [];
        foreach (string name in inputNames)
        {
            (long[] lo, long[] tuned, long[] hi) = name switch
            {
                _ when name == config.InputIdsName || name == "position_ids" => Dims([1, 1], [maxBatch, 1], [maxBatch, maxLength]),
                _ when name == config.AttentionMaskName => Dims([1, maxLength], [maxBatch, maxLength], [maxBatch, maxLength]),
                _ when pastNames.Contains(name) => default,
                _ => throw new ModelLoadException(
                    $"{config.Directory}: graph input '{name}' has no TensorRT optimisation profile rule " +
                    "(known: input_ids, position_ids, attention_mask, past key/value)."),
            };
            if (lo is null)
                continue;
            min.Add(Shape(name, lo));
            opt.Add(Shape(name, tuned));
            max.Add(Shape(name, hi));
        }
        return new TensorRtProfiles(string.Join(',', min), string.Join(',', opt), string.Join(',', max));
    }

    private static (long[], long[], long[]) Dims(long[] min, long[] opt, long[] max) => (min, opt, max);

    private static string Shape(string name, long[] dims) =>
        $"{name}:{string.Join('x', dims.Select(d => d.ToString(CultureInfo.InvariantCulture)))}";
}
