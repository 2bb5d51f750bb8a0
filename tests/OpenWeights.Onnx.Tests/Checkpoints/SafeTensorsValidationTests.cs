using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Checkpoints;

/// <summary>Every way a header can lie is refused with a message naming the file and the tensor.</summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class SafeTensorsValidationTests
{
    private string _dir = "";

    [TestInitialize]
    public void Init() => _dir = TestFixtures.Scratch("safetensors");

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static string Entry(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    private static CheckpointException Refused(string path)
    {
        var e = Assert.ThrowsExactly<CheckpointException>(() => SafeTensorsFile.Open(path).Dispose());
        StringAssert.Contains(e.Message, path);
        return e;
    }

    [TestMethod]
    public void ReadsAValidFileAndConvertsEveryFloatType()
    {
        string path = PathOf("ok.safetensors");
        // 1.5 in F32, F16 (0x3E00) and BF16 (0x3FC0).
        var data = new List<byte>();
        data.AddRange(BitConverter.GetBytes(1.5f));
        data.AddRange(BitConverter.GetBytes((ushort)0x3E00));
        data.AddRange(BitConverter.GetBytes((ushort)0x3FC0));
        SafeTensorsWriter.Write(path, "{\"__metadata__\":{\"format\":\"pt\"}," +
            Entry("a", "F32", "[1]", 0, 4) + "," + Entry("b", "F16", "[1]", 4, 6) + "," + Entry("c", "BF16", "[1]", 6, 8) + "}",
            data.ToArray());
        using var file = SafeTensorsFile.Open(path);
        Assert.AreEqual("pt", file.Metadata["format"]);
        foreach (var name in new[] { "a", "b", "c" })
        {
            var info = file.Tensors[name];
            var value = new float[1];
            unsafe { FloatConversion.ToSingle(new ReadOnlySpan<byte>(file.Pointer(info), (int)info.Length), info.DType, value); }
            Assert.AreEqual(1.5f, value[0], $"tensor {name} ({info.DType})");
        }
    }

    [TestMethod]
    public void TruncatedFileIsRefused()
    {
        string path = PathOf("short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        StringAssert.Contains(Refused(path).Message, "truncated");
    }

    [TestMethod]
    public void HeaderLengthPastEndOfFileIsRefused()
    {
        string path = PathOf("len.safetensors");
        SafeTensorsWriter.Write(path, "{}", [], headerLengthOverride: 1_000_000);
        StringAssert.Contains(Refused(path).Message, "past the end");
    }

    [TestMethod]
    public void InvalidJsonIsRefused()
    {
        string path = PathOf("json.safetensors");
        SafeTensorsWriter.Write(path, "{\"a\": [", []);
        StringAssert.Contains(Refused(path).Message, "not valid JSON");
    }

    [TestMethod]
    public void OverlappingSpansAreRefused()
    {
        string path = PathOf("overlap.safetensors");
        SafeTensorsWriter.Write(path, "{" + Entry("a", "F32", "[2]", 0, 8) + "," + Entry("b", "F32", "[2]", 4, 12) + "}", new byte[12]);
        var e = Refused(path);
        StringAssert.Contains(e.Message, "overlap");
        StringAssert.Contains(e.Message, "'a'");
        StringAssert.Contains(e.Message, "'b'");
    }

    [TestMethod]
    public void UnknownDtypeIsRefused()
    {
        string path = PathOf("dtype.safetensors");
        SafeTensorsWriter.Write(path, "{" + Entry("w", "F8_E9", "[1]", 0, 1) + "}", new byte[1]);
        var e = Refused(path);
        StringAssert.Contains(e.Message, "'w'");
        StringAssert.Contains(e.Message, "F8_E9");
    }

    [TestMethod]
    public void ShapeThatDisagreesWithByteSpanIsRefused()
    {
        string path = PathOf("shape.safetensors");
        SafeTensorsWriter.Write(path, "{" + Entry("w", "F32", "[3, 2]", 0, 20) + "}", new byte[24]);
        var e = Refused(path);
        StringAssert.Contains(e.Message, "'w'");
        StringAssert.Contains(e.Message, "needs 24 bytes");
    }

    [TestMethod]
    public void SpanPastEndOfDataIsRefused()
    {
        string path = PathOf("span.safetensors");
        SafeTensorsWriter.Write(path, "{" + Entry("w", "F32", "[4]", 0, 16) + "}", new byte[8]);
        StringAssert.Contains(Refused(path).Message, "truncated");
    }

    [TestMethod]
    public void MissingShardIsRefusedNamingIt()
    {
        File.WriteAllText(PathOf("config.json"), "{\"architectures\":[\"LlamaForCausalLM\"]}");
        SafeTensorsWriter.WriteFloats(PathOf("model-00001-of-00002.safetensors"), ("a", [1], [1f]));
        File.WriteAllText(PathOf("model.safetensors.index.json"),
            "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        var e = Assert.ThrowsExactly<CheckpointException>(() => Checkpoint.Open(_dir).Dispose());
        StringAssert.Contains(e.Message, "model-00002-of-00002.safetensors");
    }

    [TestMethod]
    public void ShardedCheckpointFindsTensorsInEveryShard()
    {
        File.WriteAllText(PathOf("config.json"), "{\"architectures\":[\"LlamaForCausalLM\"]}");
        SafeTensorsWriter.WriteFloats(PathOf("model-00001-of-00002.safetensors"), ("a", [2], [1f, 2f]));
        SafeTensorsWriter.WriteFloats(PathOf("model-00002-of-00002.safetensors"), ("b", [1], [3f]));
        File.WriteAllText(PathOf("model.safetensors.index.json"),
            "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        using var checkpoint = Checkpoint.Open(_dir);
        var values = new float[1];
        checkpoint.ReadSingles(checkpoint.Get("b"), 0, values);
        Assert.AreEqual(3f, values[0]);
        checkpoint.ReadSingles(checkpoint.Get("a"), 1, values);
        Assert.AreEqual(2f, values[0]);
        StringAssert.Contains(Assert.ThrowsExactly<CheckpointException>(() => checkpoint.Get("c")).Message, "'c'");
    }
}
