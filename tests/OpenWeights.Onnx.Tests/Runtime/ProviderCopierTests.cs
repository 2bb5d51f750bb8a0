using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Tests.Runtime;

/// <summary>
/// <see cref="ProviderCopier"/> on the CPU provider: the Identity graph copies exactly the ranges asked, of every KV
/// element type, and nothing around them (on CUDA the same graph and binding run over device memory).
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed unsafe class ProviderCopierTests
{
    public static IEnumerable<object[]> Types => [[TensorElementType.Float], [TensorElementType.Float16], [TensorElementType.BFloat16]];

    [TestMethod]
    [DynamicData(nameof(Types))]
    public void CopiesExactlyTheRangesAsked(TensorElementType type)
    {
        int size = DecoderIo.SizeOf(type);
        const int count = 3, elements = 100;
        var source = new byte[count][];
        var destination = new byte[count][];
        var random = new Random(5);
        for (int i = 0; i < count; i++)
        {
            source[i] = new byte[elements * size];
            random.NextBytes(source[i]);
            destination[i] = new byte[elements * size];
            destination[i].AsSpan().Fill(0xAB);
        }
        var handles = source.Concat(destination).Select(b => GCHandle.Alloc(b, GCHandleType.Pinned)).ToList();
        try
        {
            using var copier = new ProviderCopier(ExecutionTarget.Cpu, new GpuOptions(), OrtMemoryInfo.DefaultInstance, type, count);
            // Range i: elements [i + 1, i + 1 + lengths[i]) of buffer i.
            long[] lengths = [10, 57, 96];
            var from = new nint[count];
            var to = new nint[count];
            for (int i = 0; i < count; i++)
            {
                from[i] = handles[i].AddrOfPinnedObject() + (i + 1) * size;
                to[i] = handles[count + i].AddrOfPinnedObject() + (i + 1) * size;
            }
            copier.Copy(from, to, lengths);

            for (int i = 0; i < count; i++)
            {
                int start = (i + 1) * size, end = start + (int)lengths[i] * size;
                CollectionAssert.AreEqual(source[i][start..end], destination[i][start..end], $"range {i}");
                Assert.IsTrue(destination[i][..start].All(b => b == 0xAB) && destination[i][end..].All(b => b == 0xAB), $"outside range {i}");
            }
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }
    }

    [TestMethod]
    public void ACopyTakesOneRangePerInputAndNoEmptyRange()
    {
        using var copier = new ProviderCopier(ExecutionTarget.Cpu, new GpuOptions(), OrtMemoryInfo.DefaultInstance, TensorElementType.Float, 2);
        var handle = GCHandle.Alloc(new float[8], GCHandleType.Pinned);
        try
        {
            nint p = handle.AddrOfPinnedObject();
            Assert.ThrowsExactly<ArgumentException>(() => copier.Copy([p], [p + 16], [2]));
            var e = Assert.ThrowsExactly<ArgumentException>(() => copier.Copy([p, p], [p + 16, p + 24], [2, 0]));
            StringAssert.Contains(e.Message, "range 1 is empty");
        }
        finally
        {
            handle.Free();
        }
    }
}
