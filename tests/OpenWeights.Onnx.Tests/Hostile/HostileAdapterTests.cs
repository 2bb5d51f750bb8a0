using System.Buffers.Binary;
using System.Text.Json;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hostile;

/// <summary>A corrupt PEFT adapter is refused by name before anything is written, like a corrupt checkpoint.</summary>
[TestClass]
[TestCategory(Category.Unit)]
public sealed class HostileAdapterTests
{
    [TestMethod]
    [DataRow(float.NaN, "NaN")]
    [DataRow(float.PositiveInfinity, "+Inf")]
    [DataRow(float.NegativeInfinity, "-Inf")]
    public void ANonFiniteAdapterWeightIsRefusedNamingTheTensor(float value, string spelled)
    {
        string adapter = CorruptCopy(value, out string tensor, out int element);
        string output = Path.Combine(TestFixtures.Scratch("hostile-adapter"), "model-" + spelled);
        var e = Assert.ThrowsExactly<CheckpointException>(() => new ModelConverter(KnownFamilies.All).Convert(
            TestFixtures.Hf(LoraReference.Base), output, new ConversionOptions { Adapters = [new AdapterMerge(adapter)] }));
        StringAssert.Contains(e.Message, $"tensor '{tensor}' holds {spelled} at element {element}");
        StringAssert.Contains(e.Message, adapter);
        Assert.IsFalse(Directory.Exists(output), "nothing may be written for a refused adapter");
    }

    /// <summary>A copy of the fixture adapter with one element of its second tensor (a lora_B) set to <paramref name="value"/>.</summary>
    private static string CorruptCopy(float value, out string tensor, out int element)
    {
        string directory = TestFixtures.Scratch("hostile-adapter-copy");
        foreach (var file in Directory.GetFiles(LoraReference.AdapterDirectory))
            File.Copy(file, Path.Combine(directory, Path.GetFileName(file)));
        string path = Path.Combine(directory, "adapter_model.safetensors");
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        var entry = header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__").ElementAt(1);
        Assert.AreEqual("F32", entry.Value.GetProperty("dtype").GetString());
        tensor = entry.Name;
        element = 5;
        long start = 8 + headerLength + entry.Value.GetProperty("data_offsets")[0].GetInt64() + 4L * element;
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan((int)start), value);
        File.WriteAllBytes(path, bytes);
        return directory;
    }
}
