using Microsoft.ML.OnnxRuntime;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// Drives a converted model through plain ONNX Runtime with no owonnx runtime code, so that parity tests
/// check the graph alone: one batch row, past fed back as present.
/// </summary>
public sealed class OrtDecoderSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly int _layers, _kvHeads, _headDim;
    private readonly Microsoft.ML.OnnxRuntime.Tensors.TensorElementType _kvType;
    private OrtValue[] _past;
    private readonly List<long> _tokens = new();

    public int Vocab { get; }

    public OrtDecoderSession(string modelDirectory, SessionOptions? options = null)
    {
        string model = Path.Combine(modelDirectory, "model.onnx");
        _session = options is null ? new InferenceSession(model) : new InferenceSession(model, options);
        var pastMeta = _session.InputMetadata[DecoderIo.PastKey(0)];
        _kvHeads = pastMeta.Dimensions[1];
        _headDim = pastMeta.Dimensions[3];
        _kvType = pastMeta.ElementDataType;
        if (_session.OutputMetadata[DecoderIo.Logits].Dimensions[1] == 1)
            throw new InvalidOperationException($"{modelDirectory} was converted with --logits last; parity checks of every position need --logits all.");
        _layers = Enumerable.Range(0, int.MaxValue).TakeWhile(i => _session.InputMetadata.ContainsKey(DecoderIo.PastKey(i))).Count();
        Vocab = _session.OutputMetadata[DecoderIo.Logits].Dimensions[2];
        _past = EmptyPast();
    }

    /// <summary>Tokens fed so far (the cache's length).</summary>
    public int Length => _tokens.Count;

    public IReadOnlyList<long> Tokens => _tokens;

    /// <summary>Drops the KV cache and the tokens, as a runtime does before re-running a sequence from scratch.</summary>
    public void Reset()
    {
        foreach (var p in _past) p.Dispose();
        _past = EmptyPast();
        _tokens.Clear();
    }

    private OrtValue[] EmptyPast() => Enumerable.Range(0, 2 * _layers)
        .Select(_ => OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, _kvType, [1, _kvHeads, 0, _headDim]))
        .ToArray();

    /// <summary>Appends tokens, returns their logits [tokens.Length, vocab] (row-major).</summary>
    public float[] Forward(IReadOnlyList<long> tokens)
    {
        _tokens.AddRange(tokens);
        var ids = OrtValue.CreateTensorValueFromMemory(tokens.ToArray(), [1, tokens.Count]);
        var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, _tokens.Count).ToArray(), [1, _tokens.Count]);
        var names = new List<string> { DecoderIo.InputIds, DecoderIo.AttentionMask };
        var values = new List<OrtValue> { ids, mask };
        for (int i = 0; i < _layers; i++)
        {
            names.Add(DecoderIo.PastKey(i)); values.Add(_past[2 * i]);
            names.Add(DecoderIo.PastValue(i)); values.Add(_past[2 * i + 1]);
        }
        var outputNames = new List<string> { DecoderIo.Logits };
        for (int i = 0; i < _layers; i++)
        {
            outputNames.Add(DecoderIo.PresentKey(i));
            outputNames.Add(DecoderIo.PresentValue(i));
        }
        using var options = new RunOptions();
        var outputs = _session.Run(options, names, values, outputNames);
        var logits = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        outputs[0].Dispose();
        foreach (var v in values) v.Dispose();
        _past = outputs.Skip(1).ToArray();
        return logits;
    }

    public void Dispose()
    {
        foreach (var p in _past) p.Dispose();
        _session.Dispose();
    }
}
