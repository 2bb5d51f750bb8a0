using System.Text.RegularExpressions;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;

namespace OpenWeights.Onnx.Conversion;

/// <summary>
/// Checks across the config and the tensors, done before anything is written: every token id inside the vocabulary,
/// every tensor the family maps present, and every tensor the checkpoint holds either used or known to be ignorable.
/// A tensor nobody reads is a sign the config and the checkpoint disagree (layers dropped, a feature not converted).
/// </summary>
public static partial class CheckpointChecks
{
    /// <summary>
    /// Token ids inside [0, vocab_size); an end-of-sequence id is required (without one, generation never stops on
    /// its own). A negative pad id is transformers' "no pad token" and is dropped.
    /// </summary>
    public static ModelDescription TokenIds(ModelDescription model, Checkpoint checkpoint)
    {
        string sources = $"{checkpoint.Config.Path} or {Path.Combine(checkpoint.Directory, "generation_config.json")}";
        if (model.EosTokenIds.Length == 0)
            throw new CheckpointException($"{sources}: no eos_token_id; the model needs an end-of-sequence token id to stop generating.");
        void InVocabulary(string field, IEnumerable<int> ids)
        {
            foreach (int id in ids)
                if (id < 0 || id >= model.VocabSize)
                    throw new CheckpointException(
                        $"{sources}: {field} {id} is outside the vocabulary [0, {model.VocabSize}) (vocab_size {model.VocabSize}).");
        }
        InVocabulary("eos_token_id", model.EosTokenIds);
        InVocabulary("bos_token_id", model.BosTokenIds);
        if (model.PadTokenId is < 0)
            return model with { PadTokenId = null };
        if (model.PadTokenId is { } pad)
            InVocabulary("pad_token_id", [pad]);
        return model;
    }

    /// <summary>Every weight the family maps exists, with a hint when the config asks for more layers than the checkpoint has.</summary>
    public static void WeightsExist(Checkpoint checkpoint, ModelDescription model, IEnumerable<WeightRef> weights)
    {
        foreach (var w in weights)
        {
            if (checkpoint.Contains(w.Tensor))
                continue;
            string hint = LayerIndex(w.Tensor) is { } layer
                ? $" {checkpoint.Config.Path} sets {LayersField(checkpoint)} to {model.NumLayers}, but the checkpoint has no layer {layer}."
                : "";
            throw new CheckpointException(
                $"{checkpoint.Directory}: tensor '{w.Tensor}' not found in the checkpoint ({checkpoint.Tensors.Count()} tensors).{hint}");
        }
    }

    /// <summary>Refuses tensors the conversion would silently drop, naming them.</summary>
    public static void NoUnusedTensors(Checkpoint checkpoint, ModelDescription model, IEnumerable<WeightRef> weights, string? tiedHead = null)
    {
        var used = weights.Select(w => w.Tensor).ToHashSet(StringComparer.Ordinal);
        var unused = checkpoint.Tensors
            .Select(t => t.Name)
            .Where(name => !used.Contains(name) && !Ignorable(name) && name != tiedHead)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (unused.Count == 0)
            return;
        string first = unused[0];
        string listed = string.Join(", ", unused.Take(5).Select(n => $"'{n}'")) + (unused.Count > 5 ? $" and {unused.Count - 5} more" : "");
        string hint = unused.Select(LayerIndex).OfType<int>().Where(l => l >= model.NumLayers).Cast<int?>().FirstOrDefault() is { } extra
            ? $" {checkpoint.Config.Path} sets {LayersField(checkpoint)} to {model.NumLayers}, but the checkpoint has layer {extra}."
            : " The config may not describe this checkpoint, or it holds a feature this converter does not implement.";
        throw new CheckpointException(
            $"{checkpoint.Directory}: {unused.Count} tensor(s) would be ignored by the conversion: {listed}.{hint}");
    }

    /// <summary>
    /// Buffers transformers saves but recomputes: rotary inverse frequencies, GPT-2's causal mask (<c>attn.bias</c>,
    /// <c>attn.masked_bias</c>).
    /// </summary>
    public static bool Ignorable(string name) =>
        name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)
        || GptMaskBuffer().IsMatch(name);

    private static string LayersField(Checkpoint checkpoint) => checkpoint.Config.Has("n_layer") ? "n_layer" : "num_hidden_layers";

    private static int? LayerIndex(string name) =>
        LayerName().Match(name) is { Success: true } m ? int.Parse(m.Groups[1].Value) : null;

    [GeneratedRegex(@"(?:^|\.)(?:layers|h)\.(\d{1,9})\.")]
    private static partial Regex LayerName();

    [GeneratedRegex(@"(?:^|\.)h\.\d+\.attn\.(?:bias|masked_bias)$")]
    private static partial Regex GptMaskBuffer();
}
