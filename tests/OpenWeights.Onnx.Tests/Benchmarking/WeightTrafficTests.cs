using Google.Protobuf;
using OpenWeights.Onnx.Benchmarking;
using OpenWeights.Onnx.Graph;
using OpenWeights.Onnx.Onnx.Proto;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Tests.Benchmarking;

/// <summary>
/// The bytes a decode step reads, on hand-built graphs whose answer is worked out by hand in each test:
/// whole weights for compute nodes, one row of gathered tables, tied spans once, folded casts at their
/// widened size.
/// </summary>
[TestClass]
[TestCategory(Category.Unit)]
public sealed class WeightTrafficTests
{
    private static TensorProto Inline(string name, DataType type, int elementBytes, params long[] dims)
    {
        long elements = dims.Aggregate(1L, (a, b) => a * b);
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(new byte[elements * elementBytes]) };
        t.Dims.AddRange(dims);
        return t;
    }

    private static TensorProto External(string name, DataType type, long offset, long length, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)type, DataLocation = TensorProto.Types.DataLocation.External };
        t.Dims.AddRange(dims);
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "model.onnx.data" });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString() });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString() });
        return t;
    }

    private static ModelProto Model(GraphBuilder g) => new() { IrVersion = 10, Graph = g.Graph };

    [TestMethod]
    public void FloatDecoderReadsWholeWeightsAndOneRowOfEachTable()
    {
        var g = new GraphBuilder();
        g.AddInitializer(Inline("embed", DataType.Float, 4, 10, 8));       // 320 bytes, one row of 32 read
        g.AddInitializer(Inline("w", DataType.Float, 4, 8, 16));           // 512
        g.AddInitializer(Inline("norm", DataType.Float, 4, 8));            // 32
        g.AddInitializer(Inline("cos", DataType.Float, 4, 20, 4));         // 320, one row of 16 read
        g.AddInitializer(Inline("sin", DataType.Float, 4, 20, 4));         // 320, one row of 16 read
        g.AddInitializer(Inline("head", DataType.Float, 4, 8, 10));        // 320
        string x = g.Op("Gather", "embed/Gather", ["embed", "input_ids"]);
        string n = g.Op("SimplifiedLayerNormalization", "norm/op", [x, "norm"]);
        string y = g.Op("MatMul", "w/MatMul", [n, "w"]);
        g.OpMulti("GroupQueryAttention", "attn", [y, y, y, "past_k", "past_v", "seqlens_k", "total", "cos", "sin"],
            ["attn/out", "present_k", "present_v"], GraphBuilder.MicrosoftDomain);
        g.Op("MatMul", "head/MatMul", ["attn/out", "head"]);

        var traffic = WeightTraffic.FromModel(Model(g));

        Assert.AreEqual(32 + 512 + 32 + 16 + 16 + 320, traffic.BytesPerToken);
        Assert.AreEqual(320 + 512 + 32 + 320 + 320 + 320, traffic.StoredBytes);
        Assert.AreEqual(traffic.StoredBytes, traffic.ResidentBytes);
    }

    [TestMethod]
    public void Float16WeightCastToFloatIsReadAtFourBytes()
    {
        var g = new GraphBuilder();
        g.AddInitializer(Inline("w", DataType.Float16, 2, 8, 16));         // 256 bytes stored, 512 after the folded Cast
        string w = g.Op("Cast", "w/cast", ["w"], Attr.Int("to", (long)DataType.Float));
        g.Op("MatMul", "w/MatMul", ["x", w]);

        var traffic = WeightTraffic.FromModel(Model(g));

        Assert.AreEqual(512, traffic.BytesPerToken);
        Assert.AreEqual(256, traffic.StoredBytes);
        Assert.AreEqual(512, traffic.ResidentBytes);
    }

    [TestMethod]
    public void TiedQuantizedTableIsCountedOnceAtItsLargestUse()
    {
        // A 4-bit table of 10 rows × 64 columns in blocks of 32: 32 bytes of data and 2 float scales per row.
        var g = new GraphBuilder();
        g.AddInitializer(External("embed.q", DataType.Uint8, 0, 320, 10, 32));
        g.AddInitializer(External("head.q", DataType.Uint8, 0, 320, 10, 2, 16));   // the same bytes, seen by the head
        g.AddInitializer(External("embed.scales", DataType.Float, 320, 80, 10, 2));
        g.AddInitializer(Inline("norm", DataType.Float, 4, 64));                    // 256
        string x = g.MsOp("GatherBlockQuantized", "embed/GatherBlockQuantized", ["embed.q", "input_ids", "embed.scales"],
            Attr.Int("bits", 4), Attr.Int("block_size", 32));
        string n = g.Op("SimplifiedLayerNormalization", "norm/op", [x, "norm"]);
        g.MsOp("MatMulNBits", "head/MatMulNBits", [n, "head.q", "embed.scales"],
            Attr.Int("K", 64), Attr.Int("N", 10), Attr.Int("bits", 4), Attr.Int("block_size", 32));

        var traffic = WeightTraffic.FromModel(Model(g));

        // The head reads the whole table (320 + 80); the Gather's row (32 + 8) lies inside it.
        Assert.AreEqual(320 + 80 + 256, traffic.BytesPerToken);
        Assert.AreEqual(320 + 80 + 256, traffic.StoredBytes);
    }

    [TestMethod]
    public void UntiedQuantizedTableGivesOneRowPerToken()
    {
        var g = new GraphBuilder();
        g.AddInitializer(External("embed.q", DataType.Uint8, 0, 640, 10, 64));       // 8-bit, 64 bytes a row
        g.AddInitializer(External("embed.scales", DataType.Float, 640, 80, 10, 2));  // 8 bytes a row
        g.MsOp("GatherBlockQuantized", "embed/GatherBlockQuantized", ["embed.q", "input_ids", "embed.scales"],
            Attr.Int("bits", 8), Attr.Int("block_size", 32));

        Assert.AreEqual(64 + 8, WeightTraffic.FromModel(Model(g)).BytesPerToken);
    }

    [TestMethod]
    public void QuantizedExpertsAreReadForTheRoutedKOfEExpertsOnly()
    {
        var g = new GraphBuilder();
        g.AddInitializer(Inline("router", DataType.Float, 4, 16, 8));      // 512, read whole
        g.AddInitializer(Inline("fc1", DataType.Uint8, 1, 8, 64, 8));      // 4096 bytes: 8 experts, 2 routed → 1024
        g.AddInitializer(Inline("fc1_scales", DataType.Float, 4, 8, 64, 1)); // 2048 → 512
        g.AddInitializer(Inline("fc2", DataType.Uint8, 1, 8, 16, 16));     // 2048 → 512
        g.AddInitializer(Inline("fc2_scales", DataType.Float, 4, 8, 16, 1)); // 512 → 128
        string logits = g.Op("MatMul", "router/MatMul", ["x", "router"]);
        g.MsOp("QMoE", "moe", ["x", logits, "fc1", "fc1_scales", "", "fc2", "fc2_scales"], Attr.Int("k", 2));

        var traffic = WeightTraffic.FromModel(Model(g));

        Assert.AreEqual(512 + 1024 + 512 + 512 + 128, traffic.BytesPerToken);
        Assert.AreEqual(512 + 4096 + 2048 + 2048 + 512, traffic.StoredBytes);
    }

    /// <summary>
    /// ONNX Runtime 1.31's MLAS prepacks a MatMulNBits at accuracy_level 4 into the data plus two float32 per block
    /// (scale and block sum, the zero point folded in); the stored scales and zero points are then not read.
    /// </summary>
    [TestMethod]
    [DataRow(4L, 8L * 2 * 16 + 8 * 2 * 8)]          // 256 bytes of data + 16 blocks × 8
    [DataRow(0L, 8L * 2 * 16 + 8 * 2 * 4 + 8 * 1)]  // level 0: as stored (data, scales, zero points)
    public void PrepackedInt8ComputeCountsTwoFloatsPerBlock(long accuracyLevel, long packed)
    {
        // N = 8 rows, K = 64 in blocks of 32, 4-bit: 16 bytes a block; asymmetric, zero points 4-bit, 1 byte a row.
        var g = new GraphBuilder();
        g.AddInitializer(Inline("w.q", DataType.Uint8, 1, 8, 2, 16));     // 256
        g.AddInitializer(Inline("w.scales", DataType.Float, 4, 8, 2));    // 64
        g.AddInitializer(Inline("w.zp", DataType.Uint8, 1, 8, 1));        // 8
        g.MsOp("MatMulNBits", "w/MatMulNBits", ["x", "w.q", "w.scales", "w.zp"],
            Attr.Int("K", 64), Attr.Int("N", 8), Attr.Int("bits", 4), Attr.Int("block_size", 32), Attr.Int("accuracy_level", accuracyLevel));

        var traffic = WeightTraffic.FromModel(Model(g));

        Assert.AreEqual(256 + 64 + 8, traffic.BytesPerToken);
        Assert.AreEqual(packed, traffic.PackedBytesPerToken);
    }
}
