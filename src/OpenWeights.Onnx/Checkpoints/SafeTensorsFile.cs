using System.IO.MemoryMappedFiles;
using System.Text.Json;

namespace OpenWeights.Onnx.Checkpoints;

/// <summary>
/// One <c>.safetensors</c> file, memory-mapped: tensor bytes are never copied into managed arrays, so a
/// converter touches each page once and the kernel may drop it again (file-backed, not anonymous, memory).
/// The header is validated completely before any tensor is handed out.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    // A header larger than this is not a header but a corrupt length field.
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;

    public string Path { get; }
    public IReadOnlyDictionary<string, TensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public long Length { get; }

    private SafeTensorsFile(string path, long length, Dictionary<string, TensorInfo> tensors,
        Dictionary<string, string> metadata, MemoryMappedFile? map, MemoryMappedViewAccessor? view)
    {
        Path = path;
        Length = length;
        Tensors = tensors;
        Metadata = metadata;
        _map = map;
        _view = view;
        if (view is not null)
        {
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _base = p + view.PointerOffset;
        }
    }

    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path))
            throw new CheckpointException($"{path}: file not found.");
        byte[] header;
        long length;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            // The open file's length, not FileInfo's: in a hub cache snapshot the path is a symbolic link,
            // and FileInfo.Length is the link's own size.
            length = stream.Length;
            if (length < 8)
                throw new CheckpointException($"{path}: truncated file ({length} bytes); a SafeTensors file starts with an 8-byte header length.");
            Span<byte> lengthBytes = stackalloc byte[8];
            stream.ReadExactly(lengthBytes);
            ulong headerLength = BitConverter.ToUInt64(lengthBytes);
            if (headerLength > (ulong)(length - 8))
                throw new CheckpointException($"{path}: header length {headerLength} runs past the end of the file ({length} bytes); the file is truncated or not SafeTensors.");
            if (headerLength > MaxHeaderBytes)
                throw new CheckpointException($"{path}: header length {headerLength} exceeds {MaxHeaderBytes} bytes; the file is not SafeTensors.");
            header = new byte[headerLength];
            stream.ReadExactly(header);
        }

        long dataStart = 8 + header.LongLength;
        var (tensors, metadata) = ParseHeader(path, header, dataStart, length - dataStart);

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        if (length > 0)
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        }
        return new SafeTensorsFile(path, length, tensors, metadata, map, view);
    }

    private static (Dictionary<string, TensorInfo>, Dictionary<string, string>) ParseHeader(
        string path, byte[] header, long dataStart, long dataLength)
    {
        JsonDocument doc;
        try
        {
            // Names are read as UTF-16 later; text that is not UTF-8 must fail here, naming the file.
            new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetCharCount(header);
            doc = JsonDocument.Parse(header);
        }
        catch (Exception e) when (e is JsonException or System.Text.DecoderFallbackException)
        {
            throw new CheckpointException($"{path}: header is not valid JSON or not UTF-8 ({e.Message}).", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"{path}: header must be a JSON object, found {doc.RootElement.ValueKind}.");

            var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind == JsonValueKind.Object)
                        foreach (var m in property.Value.EnumerateObject())
                            metadata[m.Name] = m.Value.ToString();
                    continue;
                }
                if (property.Name.Length == 0)
                    throw new CheckpointException($"{path}: the header holds a tensor with an empty name.");
                var info = ParseTensor(path, property.Name, property.Value, dataStart, dataLength);
                if (!tensors.TryAdd(info.Name, info))
                    throw new CheckpointException($"{path}: the header lists tensor '{info.Name}' twice.");
            }
            CheckNoOverlap(path, tensors.Values);
            return (tensors, metadata);
        }
    }

    private static TensorInfo ParseTensor(string path, string name, JsonElement entry, long dataStart, long dataLength)
    {
        string where = $"{path}: tensor '{name}'";
        if (entry.ValueKind != JsonValueKind.Object)
            throw new CheckpointException($"{where}: entry must be an object with dtype, shape and data_offsets.");

        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new CheckpointException($"{where}: missing string field 'dtype'.");
        string dtypeText = dtypeElement.GetString()!;
        if (!TensorDTypeInfo.TryParse(dtypeText, out var dtype))
            throw new CheckpointException($"{where}: unknown dtype '{dtypeText}' (expected one of F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL).");

        if (!entry.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new CheckpointException($"{where}: missing array field 'shape'.");
        var shape = new long[shapeElement.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw new CheckpointException($"{where}: shape entries must be non-negative integers, found {d}.");
            shape[i++] = dim;
        }

        if (!entry.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2)
            throw new CheckpointException($"{where}: 'data_offsets' must be an array [begin, end].");
        if (offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new CheckpointException($"{where}: invalid data_offsets {offsets} (need 0 <= begin <= end).");
        if (end > dataLength)
            throw new CheckpointException($"{where}: data_offsets [{begin}, {end}] run past the end of the data section ({dataLength} bytes); the file is truncated.");

        long elements = 1;
        long expected;
        try
        {
            foreach (long dim in shape)
                elements = checked(elements * dim);
            expected = checked(elements * dtype.SizeInBytes());
        }
        catch (OverflowException)
        {
            throw new CheckpointException($"{where}: shape [{string.Join(", ", shape)}] has more elements than any file can hold.");
        }
        if (expected != end - begin)
            throw new CheckpointException($"{where}: shape [{string.Join(", ", shape)}] × {dtypeText} needs {expected} bytes but data_offsets span {end - begin}.");

        return new TensorInfo(name, dtype, shape, dataStart + begin, end - begin);
    }

    private static void CheckNoOverlap(string path, IEnumerable<TensorInfo> tensors)
    {
        TensorInfo? previous = null;
        foreach (var t in tensors.Where(t => t.Length > 0).OrderBy(t => t.Offset))
        {
            if (previous is not null && t.Offset < previous.Offset + previous.Length)
                throw new CheckpointException($"{path}: tensors '{previous.Name}' and '{t.Name}' overlap in the data section.");
            previous = t;
        }
    }

    /// <summary>The raw bytes of a tensor, straight from the mapping. Valid while this file is open.</summary>
    public byte* Pointer(TensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_view is null && Length > 0, this);
        return _base + tensor.Offset;
    }

    public void Dispose()
    {
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }
}
