using System.Diagnostics;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Generation;

/// <summary>
/// The token loop of one sequence: prefill, then sample → step → sample … It owns slot 0 of a one-slot
/// <see cref="BatchDecoder"/> and remembers what its cache holds, so that a new prompt sharing a prefix
/// with the previous one (the next turn of a chat) only computes the new part. After <see cref="Start"/>
/// the steady state allocates nothing: no iterator, no buffers, no per-token objects.
/// </summary>
public sealed class TokenStream
{
    private readonly BatchDecoder _decoder;
    private readonly int[] _eos;
    private readonly List<int> _cached;
    private readonly int[] _stepToken = new int[1];
    private readonly bool[] _stepActive = [true];
    private TokenSampler? _sampler;
    private TokenLogProb[] _top = [];
    private GenerationOptions _options = new();
    private float[] _promptLogits = [];
    private bool _pending;
    private int _generated;
    private long _start, _firstToken, _runTicks;

    public int Current { get; private set; }
    public float CurrentLogProb { get; private set; }
    public ReadOnlySpan<TokenLogProb> CurrentTopLogProbs => _top;
    public FinishReason? Finish { get; private set; }
    public int PromptTokens { get; private set; }
    public int ReusedPromptTokens { get; private set; }

    /// <summary>Tokens the cache holds (prompt and generated tokens already fed back).</summary>
    public IReadOnlyList<int> CachedTokens => _cached;

    public TokenStream(BatchDecoder decoder, IReadOnlyList<int> eosTokenIds)
    {
        if (decoder.Slots != 1)
            throw new ArgumentException("a token stream drives a one-slot decoder.", nameof(decoder));
        _decoder = decoder;
        _eos = eosTokenIds.ToArray();
        _cached = new List<int>(decoder.MaxLength);
    }

    public int MaxLength => _decoder.MaxLength;

    /// <summary>Feeds the prompt (reusing the cached prefix it shares with the last sequence).</summary>
    public void Start(ReadOnlySpan<int> prompt, GenerationOptions options)
    {
        options.Validate();
        if (prompt.Length == 0)
            throw new ArgumentException("the prompt is empty.");
        // In long: a max-new-tokens near int.MaxValue must not wrap around and pass the check.
        if ((long)prompt.Length + options.MaxNewTokens > _decoder.MaxLength)
            throw new ContextOverflowException((long)prompt.Length + options.MaxNewTokens, _decoder.MaxLength);

        _options = options;
        if (_sampler is null || _sampler.Options != options.Sampling)
            _sampler = new TokenSampler(options.Sampling, _decoder.VocabSize);
        else
            _sampler.Reset();
        _sampler.ObservePrompt(prompt);
        if (_top.Length != options.TopLogProbs)
            _top = new TokenLogProb[options.TopLogProbs];

        // Keep at least the last prompt token to recompute: its logits choose the first new token.
        int reuse = 0;
        int limit = Math.Min(_cached.Count, prompt.Length - 1);
        // Keys cached after a LongRoPE switch were rotated with the long factors; a shorter sequence needs the short ones.
        if (_decoder.Config.RopeSwitchLength is { } switchLength && _cached.Count > switchLength && prompt.Length <= switchLength)
            limit = 0;
        while (reuse < limit && _cached[reuse] == prompt[reuse]) reuse++;
        _decoder.Rewind(0, reuse);
        _cached.RemoveRange(reuse, _cached.Count - reuse);

        _start = Stopwatch.GetTimestamp();
        var logits = _decoder.Append(0, prompt[reuse..]);
        if (_promptLogits.Length != logits.Length)
            _promptLogits = new float[logits.Length];
        logits.CopyTo(_promptLogits);
        foreach (int t in prompt[reuse..]) _cached.Add(t);

        PromptTokens = prompt.Length;
        ReusedPromptTokens = reuse;
        Finish = null;
        _generated = 0;
        _pending = false;
        _runTicks = 0;
    }

    /// <summary>Produces the next token, or returns false once the sequence has finished.</summary>
    public bool MoveNext(CancellationToken cancellationToken = default)
    {
        if (Finish is not null || _sampler is null)
            return false;
        if (cancellationToken.IsCancellationRequested)
        {
            Finish = FinishReason.Cancelled;
            return false;
        }

        Span<float> logits;
        if (_pending)
        {
            // Feed the previous token only now: the last token of a sequence is never run.
            long before = Stopwatch.GetTimestamp();
            _stepToken[0] = Current;
            if (_decoder.Config.RopeSwitchLength == _cached.Count)
            {
                // LongRoPE crosses from short to long factors: as transformers does, recompute the whole
                // sequence with the long factors instead of keeping keys rotated by the short ones.
                _cached.Add(Current);
                _decoder.Rewind(0, 0);
                logits = _decoder.Append(0, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_cached));
            }
            else
            {
                logits = _decoder.Step(_stepToken, _stepActive);
                _cached.Add(Current);
            }
            _runTicks += Stopwatch.GetTimestamp() - before;
        }
        else
        {
            logits = _promptLogits;
        }

        int token;
        if (_options.TopLogProbs > 0)
        {
            token = _sampler.Sample(logits, out float logProb, _top);
            CurrentLogProb = logProb;
        }
        else
        {
            token = _sampler.Sample(logits, out float logProb);
            CurrentLogProb = logProb;
        }
        _sampler.Observe(token);
        if (_generated == 0)
            _firstToken = Stopwatch.GetTimestamp();

        if (_options.StopAtEos && Array.IndexOf(_eos, token) >= 0)
        {
            Finish = FinishReason.Stop;
            return false;
        }
        Current = token;
        _generated++;
        _pending = true;
        if (_generated >= _options.MaxNewTokens)
            Finish = FinishReason.Length;
        return true;
    }

    /// <summary>Ends the sequence early (a stop string was found in the text).</summary>
    public void Stop() => Finish ??= FinishReason.Stop;

    public GenerationStats Stats
    {
        get
        {
            long now = Stopwatch.GetTimestamp();
            return new GenerationStats
            {
                PromptTokens = PromptTokens,
                ReusedPromptTokens = ReusedPromptTokens,
                GeneratedTokens = _generated,
                TimeToFirstToken = _generated > 0 ? Stopwatch.GetElapsedTime(_start, _firstToken) : TimeSpan.Zero,
                DecodeTime = _generated > 0 ? Stopwatch.GetElapsedTime(_firstToken, now) : TimeSpan.Zero,
                DecodeRunTime = TimeSpan.FromSeconds((double)_runTicks / Stopwatch.Frequency),
            };
        }
    }
}
