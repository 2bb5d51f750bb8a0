using Google.Protobuf;

namespace OpenWeights.Onnx.Conversion;

/// <summary>
/// Recognises a folder that a previous conversion wrote, so that <c>--overwrite</c> replaces only what owonnx made
/// and never a checkpoint, a home folder or anything else a mistyped path may name.
/// </summary>
public static class ConvertedFolder
{
    public const string Producer = "owonnx";

    /// <summary>Every name a conversion may write into its output folder.</summary>
    public static IReadOnlySet<string> WrittenFiles { get; } = new HashSet<string>(
        [ModelConverter.ModelFile, ModelConverter.DataFile, GenAiConfigWriter.FileName, ChatTemplateFiles.ConfigFile, .. ModelConverter.CopiedFiles],
        StringComparer.Ordinal);

    /// <summary>
    /// Null when <paramref name="directory"/> may be replaced (empty, or exactly a previous owonnx output);
    /// otherwise why not, naming the entry at fault.
    /// </summary>
    public static string? WhyNotReplaceable(string directory)
    {
        var entries = Directory.EnumerateFileSystemEntries(directory).ToList();
        if (entries.Count == 0)
            return null;
        string model = Path.Combine(directory, ModelConverter.ModelFile);
        if (!File.Exists(model) || !File.Exists(Path.Combine(directory, GenAiConfigWriter.FileName)))
            return $"it holds no {ModelConverter.ModelFile} and {GenAiConfigWriter.FileName}, so it is not an owonnx output";
        string? producer = ReadProducer(model);
        if (producer != Producer)
            return $"its {ModelConverter.ModelFile} was written by '{producer ?? "an unknown producer"}', not by owonnx";
        foreach (string entry in entries)
        {
            string name = Path.GetFileName(entry);
            if (name == ChatTemplateFiles.AdditionalFolder && IsTemplateFolder(entry))
                continue;
            if (Directory.Exists(entry) || new FileInfo(entry).LinkTarget is not null)
                return $"it holds '{name}', which is not a plain file owonnx writes";
            if (!WrittenFiles.Contains(name))
                return $"it holds '{name}', which owonnx does not write";
        }
        return null;
    }

    /// <summary>ModelProto.producer_name (field 2) read from the front of the file, without parsing the graph.</summary>
    private static string? ReadProducer(string modelPath)
    {
        try
        {
            using var stream = File.OpenRead(modelPath);
            using var input = new CodedInputStream(stream, leaveOpen: true);
            // ir_version (1) and producer_name (2) come first in every writer's output; look a few fields in at most.
            for (int i = 0; i < 8; i++)
            {
                uint tag = input.ReadTag();
                if (tag == 0)
                    return null;
                if (WireFormat.GetTagFieldNumber(tag) == 2 && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
                    return input.ReadString();
                input.SkipLastField();
            }
            return null;
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or IOException)
        {
            return null;
        }
    }

    /// <summary>The named chat templates a conversion writes: a real folder of plain <c>.jinja</c> files and nothing else.</summary>
    private static bool IsTemplateFolder(string path) =>
        Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null &&
        Directory.EnumerateFileSystemEntries(path).All(e =>
            File.Exists(e) && new FileInfo(e).LinkTarget is null && e.EndsWith(".jinja", StringComparison.Ordinal));
}
