using System.Text.Json.Nodes;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hostile;

/// <summary>Shared moves of the hostile-input suite: copy a fixture, break one thing, convert, check nothing was written.</summary>
internal static class HostileInput
{
    public static readonly ModelConverter Converter = new(KnownFamilies.All);

    /// <summary>A writable copy of a transformers fixture checkpoint.</summary>
    public static string CopyFixture(string fixture)
    {
        string dir = TestFixtures.Scratch("hostile-" + fixture);
        foreach (var f in Directory.GetFiles(TestFixtures.Hf(fixture)))
        {
            string target = Path.Combine(dir, Path.GetFileName(f));
            File.Copy(f, target);
            File.SetAttributes(target, FileAttributes.Normal);
        }
        return dir;
    }

    /// <summary>Sets <paramref name="field"/> of a JSON file to <paramref name="json"/> (a JSON text; null removes it).</summary>
    public static void SetField(string file, string field, string? json)
    {
        var root = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        if (json is null)
            root.Remove(field);
        else
            root[field] = JsonNode.Parse(json);
        File.WriteAllText(file, root.ToJsonString());
    }

    /// <summary>
    /// Converts and expects a <see cref="CheckpointException"/> (or <typeparamref name="T"/>) whose message holds every
    /// fragment; nothing may be left in the output's parent folder.
    /// </summary>
    public static T Refused<T>(string checkpoint, params string[] fragments) where T : Exception
    {
        string parent = TestFixtures.Scratch("hostile-out");
        var e = Assert.ThrowsExactly<T>(() => Converter.Convert(checkpoint, Path.Combine(parent, "model"), new ConversionOptions()));
        foreach (string fragment in fragments)
            StringAssert.Contains(e.Message, fragment);
        Assert.AreEqual(0, Directory.GetFileSystemEntries(parent).Length, "a refused conversion must leave nothing behind");
        return e;
    }

    public static CheckpointException Refused(string checkpoint, params string[] fragments) =>
        Refused<CheckpointException>(checkpoint, fragments);
}
