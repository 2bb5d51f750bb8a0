using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Runtime;

/// <summary>
/// Copying keys and values between slots (prefix reuse, n choices, compaction) against the transformers references:
/// on host memory by the host, and through <see cref="ProviderCopier"/> — the path a cache in device memory takes
/// (CUDA) — run here on the CPU provider over host memory.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class KvSlotCopyTests
{
    private const float Tolerance = 1e-4f;

    public static IEnumerable<object[]> Placements => [[false], [true]];

    [TestMethod]
    [DynamicData(nameof(Placements))]
    public void ACopiedPrefixContinuesAsTheReference(bool throughProvider)
    {
        var window = HeldoutWindow.Load();
        using var model = LanguageModel.Load(FortuneReference.ConvertedFp32);
        using var decoder = new BatchDecoder(model.Session, model.Config, 3, model.MaxLength,
            placement: throughProvider ? BufferPlacement.HostCopyingThroughProvider() : BufferPlacement.Host());
        Assert.AreEqual(throughProvider, decoder.Cache.CopiesThroughProvider);

        // Slot 0 reads 60 tokens; slot 2 takes its first 40 and reads on from there.
        decoder.Append(0, window.Ids.AsSpan(0, 60));
        decoder.CopyPrefix(0, 2, 40);
        Assert.AreEqual(40, decoder.Length(2));
        var logits = decoder.Append(2, window.Ids.AsSpan(40, 40));
        Assert.IsLessThanOrEqualTo(Tolerance, Logits.MaxAbsDiff(logits, window.LogitsAfter(80)), "continuing a copied prefix");

        // Compaction moves it to slot 1; it goes on there, and slot 0 was not disturbed by any of it.
        decoder.MoveSlot(2, 1);
        Assert.AreEqual(0, decoder.Length(2));
        logits = decoder.Append(1, window.Ids.AsSpan(80, 1));
        Assert.IsLessThanOrEqualTo(Tolerance, Logits.MaxAbsDiff(logits, window.LogitsAfter(81)), "continuing after a move");
        logits = decoder.Append(0, window.Ids.AsSpan(60, 5));
        Assert.IsLessThanOrEqualTo(Tolerance, Logits.MaxAbsDiff(logits, window.LogitsAfter(65)), "the source slot");
    }

    [TestMethod]
    public void ProviderAndHostCopiesGiveIdenticalLogits()
    {
        var window = HeldoutWindow.Load();
        using var model = LanguageModel.Load(FortuneReference.ConvertedFp32);
        float[] Run(BufferPlacement placement)
        {
            using var decoder = new BatchDecoder(model.Session, model.Config, 2, model.MaxLength, placement: placement);
            decoder.Append(0, window.Ids.AsSpan(0, 50));
            decoder.CopyPrefix(0, 1, 33);
            return decoder.Append(1, window.Ids.AsSpan(33, 20)).ToArray();
        }
        CollectionAssert.AreEqual(Run(BufferPlacement.Host()), Run(BufferPlacement.HostCopyingThroughProvider()));
    }

    [TestMethod]
    public void CopyingMoreThanASlotHoldsIsRefused()
    {
        using var model = LanguageModel.Load(FortuneReference.ConvertedFp32);
        using var decoder = model.CreateDecoder(2);
        decoder.Append(0, [0, 5, 6]);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => decoder.CopyPrefix(0, 1, 4));
        StringAssert.Contains(e.Message, "slot 0 holds 3 tokens");
        Assert.ThrowsExactly<ArgumentException>(() => decoder.CopyPrefix(0, 0, 2));
    }
}
