using System.Text;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hostile;

/// <summary>
/// SafeTensors headers that lie, one per row: each is refused when the file is opened, naming the file (and the tensor
/// when there is one), before any byte of data is trusted.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class HostileSafeTensorsTests
{
    private static string E(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    [TestMethod]
    [DataRow("[]", 0, "must be a JSON object")]
    [DataRow("\"text\"", 0, "must be a JSON object")]
    [DataRow("null", 0, "must be a JSON object")]
    [DataRow("{\"w\": 5}", 4, "'w'")]
    [DataRow("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "dtype")]
    [DataRow("{\"w\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "dtype")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "shape")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": \"[1]\", \"data_offsets\": [0, 4]}}", 4, "shape")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4, "non-negative")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4, "non-negative")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}}", 4, "non-negative")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "data_offsets")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, "data_offsets")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 4, "data_offsets")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, "data_offsets")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}", 4, "data_offsets")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 9223372036854775807]}}", 4, "past the end")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 4]}}", 4, "more elements")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 4]}}", 4, "needs 0 bytes")]
    [DataRow("{\"w\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [0, 4]}}", 4, "needs 8 bytes")]
    [DataRow("{\"w\": {\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "unknown dtype")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "twice")]
    [DataRow("{\"\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "empty name")]
    [DataRow("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 8, "overlap")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}", 4, "not valid JSON")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}} trailing", 4, "not valid JSON")]
    public void LyingHeaderIsRefused(string header, int dataBytes, string fragment)
    {
        string path = Path.Combine(TestFixtures.Scratch("hostile-st"), "model.safetensors");
        SafeTensorsWriter.Write(path, header, new byte[dataBytes]);
        var e = Assert.ThrowsExactly<CheckpointException>(() => SafeTensorsFile.Open(path).Dispose());
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, fragment);
    }

    [TestMethod]
    [DataRow(new byte[] { 0xFF, 0xFE })]
    [DataRow(new byte[] { 0xC3, 0x28 })]
    [DataRow(new byte[] { 0xED, 0xA0, 0x80 })]
    public void HeaderThatIsNotUtf8IsRefusedNamingTheFile(byte[] bad)
    {
        string path = Path.Combine(TestFixtures.Scratch("hostile-st"), "model.safetensors");
        var header = new List<byte>(Encoding.UTF8.GetBytes("{\"w"));
        header.AddRange(bad);
        header.AddRange(Encoding.UTF8.GetBytes("\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}"));
        using (var stream = File.Create(path))
        {
            stream.Write(BitConverter.GetBytes((long)header.Count));
            stream.Write(header.ToArray());
            stream.Write(new byte[4]);
        }
        var e = Assert.ThrowsExactly<CheckpointException>(() => SafeTensorsFile.Open(path).Dispose());
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "UTF-8");
    }

    [TestMethod]
    [DataRow(0L, "truncated")]
    [DataRow(-1L, "past the end")]
    [DataRow(1_000_000L, "past the end")]
    [DataRow(3L, "not valid JSON")]
    public void CorruptHeaderLengthIsRefused(long length, string fragment)
    {
        string path = Path.Combine(TestFixtures.Scratch("hostile-st"), "model.safetensors");
        if (length == 0)
            File.WriteAllBytes(path, new byte[5]);
        else
        {
            using var stream = File.Create(path);
            stream.Write(BitConverter.GetBytes(length));
            stream.Write(Encoding.UTF8.GetBytes("{\"w\": {\"dtype\": \"F32\"}}"));
        }
        var e = Assert.ThrowsExactly<CheckpointException>(() => SafeTensorsFile.Open(path).Dispose());
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, fragment);
    }
}
