using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace OpenWeights.Onnx.Checkpoints;

/// <summary>Vectorised conversion of checkpoint elements (F32, F16, BF16) to and from float32.</summary>
public static class FloatConversion
{
    public static void ToSingle(ReadOnlySpan<byte> source, TensorDType dtype, Span<float> destination)
    {
        switch (dtype)
        {
            case TensorDType.F32:
                MemoryMarshal.Cast<byte, float>(source)[..destination.Length].CopyTo(destination);
                break;
            case TensorDType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source)[..destination.Length], destination);
                break;
            case TensorDType.BF16:
                BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(source)[..destination.Length], destination);
                break;
            default:
                throw new NotSupportedException($"dtype {dtype} is not a floating type we convert (F32, F16, BF16).");
        }
    }

    /// <summary>BF16 is the top half of a float32: widening and shifting is exact.</summary>
    public static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        var bits = MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var src = MemoryMarshal.Cast<ushort, Vector<ushort>>(source);
            for (int v = 0; v < src.Length; v++)
            {
                Vector.Widen(src[v], out var lo, out var hi);
                (lo << 16).CopyTo(bits.Slice(i));
                (hi << 16).CopyTo(bits.Slice(i + Vector<uint>.Count));
                i += Vector<ushort>.Count;
            }
        }
        for (; i < source.Length; i++)
            bits[i] = (uint)source[i] << 16;
    }

    /// <summary>The index of the first NaN or ±Inf in <paramref name="values"/>, or −1 (x·0 is 0 only for finite x).</summary>
    public static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<float>.Count)
        {
            var sum = Vector<float>.Zero;
            var vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
            foreach (var v in vectors)
                sum += v * Vector<float>.Zero;
            if (Vector.EqualsAll(sum, Vector<float>.Zero))
                i = vectors.Length * Vector<float>.Count;
        }
        for (; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                return i;
        return -1;
    }

    public static void SingleToHalf(ReadOnlySpan<float> source, Span<Half> destination) =>
        TensorPrimitives.ConvertToHalf(source, destination);

    /// <summary>float32 → bfloat16 bits, rounding to nearest even (as torch does); NaN stays NaN.</summary>
    public static void SingleToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        for (int i = 0; i < source.Length; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(source[i]);
            destination[i] = float.IsNaN(source[i])
                ? (ushort)((bits >> 16) | 0x40)
                : (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
        }
    }
}
