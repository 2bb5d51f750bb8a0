using System.Runtime.InteropServices;
using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Weights;

/// <summary>
/// Materialises one weight at a time as float32 from the memory-mapped checkpoint, in the layout the
/// graph wants. A single buffer is reused (grown to the largest weight), so converting never holds more
/// than one weight in anonymous memory. A <see cref="IWeightDelta"/> (merged LoRA adapters) is added to each
/// matrix as it is read, in float32, before any quantization.
/// </summary>
public sealed unsafe class WeightReader(Checkpoint checkpoint, IWeightDelta? delta = null) : IDisposable
{
    private const int TileRows = 64;
    private float* _buffer;
    private long _capacity;
    private float[] _tile = [];

    public Checkpoint Checkpoint => checkpoint;

    /// <summary>Weight elements read from the checkpoint so far (progress reporting).</summary>
    public long ElementsRead { get; private set; }

    /// <summary>Elements a weight reference covers (a slice of a stacked or fused tensor counts only its part).</summary>
    public long Elements(WeightRef w)
    {
        var (shape, _) = Selected(w);
        if (shape.Length == 2)
        {
            var (rows, cols) = MatrixShape(w);
            return (long)rows * cols;
        }
        long all = shape.Aggregate(1L, (a, b) => a * b);
        return w.OutputCount ?? all - w.OutputStart;
    }

    /// <summary>The logical [out, in] shape of a matrix weight, after slicing.</summary>
    public (int Out, int In) MatrixShape(WeightRef w)
    {
        var (shape, _) = Selected(w);
        var info = checkpoint.Get(w.Tensor);
        if (shape.Length != 2)
            throw new CheckpointException($"{checkpoint.Directory}: tensor '{w}' has shape {Text(shape)}{Stacked(w, info)}; a 2-D matrix was expected.");
        int storedOut = (int)(w.StoredInputMajor ? shape[1] : shape[0]);
        int storedIn = (int)(w.StoredInputMajor ? shape[0] : shape[1]);
        int count = w.OutputCount ?? storedOut - w.OutputStart;
        if (w.OutputStart < 0 || w.OutputStart + count > storedOut)
            throw new CheckpointException($"{checkpoint.Directory}: tensor '{w.Tensor}' {info.ShapeText} has no output rows {w.OutputStart}..{w.OutputStart + count}.");
        return (count, storedIn);
    }

    /// <summary>
    /// The shape a reference sees and the element where it starts: the whole tensor, or with <see cref="WeightRef.Index"/>
    /// one slice of the leading axis (expert e of [E, out, in] is an [out, in] matrix starting at e·out·in).
    /// </summary>
    private (long[] Shape, long Start) Selected(WeightRef w)
    {
        var info = checkpoint.Get(w.Tensor);
        if (w.Index is not { } index)
            return (info.Shape, 0);
        if (info.Shape.Length < 2 || index < 0 || index >= info.Shape[0])
            throw new CheckpointException($"{checkpoint.Directory}: tensor '{w.Tensor}' has shape {info.ShapeText}; it has no slice {index} along its leading axis.");
        var shape = info.Shape[1..];
        return (shape, index * shape.Aggregate(1L, (a, b) => a * b));
    }

    private static string Text(long[] shape) => "[" + string.Join(", ", shape) + "]";

    private static string Stacked(WeightRef w, TensorInfo info) => w.Index is null ? "" : $" (a slice of {info.ShapeText})";

    /// <summary>
    /// Reads a matrix as [out, in] (<paramref name="inputMajor"/> false, as Hugging Face stores linear
    /// weights) or as [in, out] (true, as ONNX MatMul wants its right-hand side).
    /// </summary>
    public Span<float> Matrix(WeightRef w, bool inputMajor, int expectedOut, int expectedIn)
    {
        var (rows, cols) = MatrixShape(w);
        if (rows != expectedOut || cols != expectedIn)
            throw new CheckpointException(
                $"{checkpoint.Directory}: tensor '{w}' is [{rows} out, {cols} in] but the config implies [{expectedOut}, {expectedIn}].");
        var info = checkpoint.Get(w.Tensor);
        var (shape, start) = Selected(w);
        var dst = Buffer((long)rows * cols);
        ElementsRead += (long)rows * cols;
        bool transpose = inputMajor != w.StoredInputMajor;
        if (w.StoredInputMajor)
            ReadColumns(info, start, shape[1], w.OutputStart, rows, cols, dst, transpose);
        else
            ReadRows(info, start, w.OutputStart, rows, cols, dst, transpose);
        delta?.AddTo(w, dst, inputMajor);
        return dst;
    }

    /// <summary>A 1-D weight (norm scale, bias), optionally a slice of a fused one or a row of a stacked one.</summary>
    public Span<float> Vector(WeightRef w, int expectedLength)
    {
        var info = checkpoint.Get(w.Tensor);
        var (shape, start) = Selected(w);
        if (shape.Length != 1)
            throw new CheckpointException($"{checkpoint.Directory}: tensor '{w}' has shape {Text(shape)}{Stacked(w, info)}; a 1-D vector was expected.");
        int count = w.OutputCount ?? (int)shape[0] - w.OutputStart;
        if (count != expectedLength || w.OutputStart + count > shape[0])
            throw new CheckpointException($"{checkpoint.Directory}: tensor '{w}' has {count} elements but the config implies {expectedLength}.");
        var dst = Buffer(count);
        ElementsRead += count;
        checkpoint.ReadSingles(info, start + w.OutputStart, dst);
        return dst;
    }

    /// <summary>Source [storedOut, in] from element <paramref name="origin"/>: a contiguous block of rows, transposed through a small tile if asked.</summary>
    private void ReadRows(TensorInfo info, long origin, int start, int rows, int cols, Span<float> dst, bool transpose)
    {
        if (!transpose)
        {
            checkpoint.ReadSingles(info, origin + (long)start * cols, dst);
            return;
        }
        var tile = Tile(TileRows * cols);
        for (int r0 = 0; r0 < rows; r0 += TileRows)
        {
            int n = Math.Min(TileRows, rows - r0);
            checkpoint.ReadSingles(info, origin + (long)(start + r0) * cols, tile[..(n * cols)]);
            for (int c = 0; c < cols; c++)
            {
                var column = dst.Slice(c * rows + r0, n);
                for (int r = 0; r < n; r++)
                    column[r] = tile[r * cols + c];
            }
        }
    }

    /// <summary>Source [in, storedOut] (Conv1D) from element <paramref name="origin"/>: output rows are a column range of every stored row.</summary>
    private void ReadColumns(TensorInfo info, long origin, long storedOut, int start, int rows, int cols, Span<float> dst, bool transpose)
    {
        var line = Tile(rows);
        for (int i = 0; i < cols; i++)
        {
            checkpoint.ReadSingles(info, origin + i * storedOut + start, line[..rows]);
            if (!transpose)
                line[..rows].CopyTo(dst.Slice(i * rows, rows));
            else
                for (int r = 0; r < rows; r++)
                    dst[r * cols + i] = line[r];
        }
    }

    private Span<float> Tile(int length)
    {
        if (_tile.Length < length)
            _tile = new float[length];
        return _tile;
    }

    private Span<float> Buffer(long elements)
    {
        if (elements > int.MaxValue)
            throw new NotSupportedException($"a weight of {elements} elements exceeds the 2^31 element limit of one ONNX initializer span.");
        if (elements > _capacity)
        {
            NativeMemory.Free(_buffer);
            _buffer = (float*)NativeMemory.Alloc((nuint)elements, sizeof(float));
            _capacity = elements;
        }
        return new Span<float>(_buffer, (int)elements);
    }

    public void Dispose()
    {
        NativeMemory.Free(_buffer);
        _buffer = null;
        _capacity = 0;
    }
}
