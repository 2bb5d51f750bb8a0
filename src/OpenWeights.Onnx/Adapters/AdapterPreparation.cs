using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Onnx.Proto;

namespace OpenWeights.Onnx.Adapters;

/// <summary>
/// <c>owonnx adapter</c>: a PEFT adapter folder → a run-time adapter file for one converted base, checked against
/// the sites the base's graph lists (names, fused slices, shapes) so that a mismatch fails here, not at run time.
/// </summary>
public static class AdapterPreparation
{
    public sealed record Result(string Path, int Layers, int Rank, long Bytes);

    public static Result Prepare(string adapterDirectory, string baseModelDirectory, string output, float scale = 1f)
    {
        if (!float.IsFinite(scale))
            throw new ArgumentException($"--scale {scale} must be a finite number.");
        var sites = Sites(baseModelDirectory);
        using var adapter = LoraAdapter.Open(adapterDirectory);
        var byTarget = sites.ToDictionary(s => s.Target);
        var pairs = adapter.Match(byTarget.Keys, scale);
        string name = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(adapterDirectory)));
        var file = AdapterFile.From(pairs.Select(p => (byTarget[p.Key], p.Value)), new Dictionary<string, string>
        {
            ["source"] = name,
            ["r"] = adapter.Config.Rank.ToString(),
            ["scale"] = (adapter.Config.Scale * scale).ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        });
        string path = Directory.Exists(output) ? System.IO.Path.Combine(output, name + AdapterFile.Extension) : output;
        file.Write(path);
        return new Result(path, pairs.Count, file.Rank, new FileInfo(path).Length);
    }

    /// <summary>The adapter sites a converted model's graph lists in its metadata.</summary>
    public static IReadOnlyList<LoraSite> Sites(string modelDirectory)
    {
        string path = System.IO.Path.Combine(modelDirectory, "model.onnx");
        if (!File.Exists(path))
            throw new CheckpointException($"{modelDirectory}: not a converted model folder (model.onnx not found).");
        ModelProto model;
        using (var stream = File.OpenRead(path))
            try { model = ModelProto.Parser.ParseFrom(stream); }
            catch (Google.Protobuf.InvalidProtocolBufferException e) { throw new CheckpointException($"{path}: not a valid ONNX model ({e.Message}).", e); }
        var entry = model.MetadataProps.FirstOrDefault(p => p.Key == LoraSite.MetadataKey)
            ?? throw new CheckpointException($"{modelDirectory}: the model has no inputs for run-time adapters; convert the base with " +
                                             "'owonnx convert <checkpoint> --adapter-inputs …' (or merge the adapter with --lora).");
        return LoraSite.Parse(entry.Value, path);
    }
}
