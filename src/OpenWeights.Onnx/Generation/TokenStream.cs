using System.Diagnostics;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Generation;

/// <summary>
/// One sequence on a one-slot <see cref="BatchDecoder"/>: prefill, then sample → step → sample …, the choices made
/// by the shared per-sequence core (<see cref="SequenceGenerator"/>, which the server and <c>bench</c> drive too)
/// and the runs it asks for done here. It remembers what its cache holds, so that a new prompt sharing a prefix
/// with the previous one (the next turn of a chat) only computes the new part. After <see cref="Start"/>
/// the steady state allocates nothing without a tokenizer: no iterator, no buffers, no per-token objects.
/// </summary>
public sealed class TokenStream
{
    private readonly BatchDecoder _decoder;
    private readonly SequenceGenerator _sequence;
    private readonly List<int> _cached;
    private readonly int[] _stepToken = new int[1];
    private readonly bool[] _stepActive = [true];
    private float[] _promptLogits = [];
    private bool _started;
    private long _start, _firstToken, _runTicks;

    public int Current => _sequence.Current;
    public float CurrentLogProb => _sequence.CurrentLogProb;
    public ReadOnlySpan<TokenLogProb> CurrentTopLogProbs => _sequence.CurrentTopLogProbs;
    /// <summary>Text released with <see cref="Current"/> when started with a tokenizer.</summary>
    public string CurrentText => _sequence.CurrentText;
    public FinishReason? Finish => _started ? _sequence.Finish : null;
    public int PromptTokens => _sequence.PromptTokens;
    public int ReusedPromptTokens { get; private set; }

    /// <summary>Tokens the cache holds (prompt and generated tokens already fed back).</summary>
    public IReadOnlyList<int> CachedTokens => _cached;

    public TokenStream(BatchDecoder decoder, IReadOnlyList<int> eosTokenIds)
    {
        if (decoder.Slots != 1)
            throw new ArgumentException("a token stream drives a one-slot decoder.", nameof(decoder));
        _decoder = decoder;
        _sequence = new SequenceGenerator(decoder.VocabSize, eosTokenIds, decoder.MaxLength, decoder.Config.RopeSwitchLength);
        _cached = new List<int>(decoder.MaxLength);
    }

    public int MaxLength => _decoder.MaxLength;

    /// <summary>
    /// Feeds the prompt (reusing the cached prefix it shares with the last sequence). With a <paramref name="tokenizer"/>,
    /// each token's text is in <see cref="CurrentText"/> and stop strings end the sequence.
    /// </summary>
    public void Start(ReadOnlySpan<int> prompt, GenerationOptions options, TextTokenizer? tokenizer = null)
    {
        _sequence.Begin(prompt, options, tokenizer);
        _started = true;

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

        ReusedPromptTokens = reuse;
        _runTicks = 0;
    }

    /// <summary>Produces the next token, or returns false once the sequence has finished.</summary>
    public bool MoveNext(CancellationToken cancellationToken = default)
    {
        if (!_started || _sequence.Finish is not null)
            return false;
        if (cancellationToken.IsCancellationRequested)
        {
            _sequence.End(FinishReason.Cancelled);
            return false;
        }

        Span<float> logits;
        if (_sequence.Generated == 0)
        {
            logits = _promptLogits;
        }
        else
        {
            // Feed the previous token only now: the last token of a sequence is never run.
            long before = Stopwatch.GetTimestamp();
            if (_sequence.Next == NextRun.Recompute)
            {
                _cached.Add(Current);
                _decoder.Rewind(0, 0);
                logits = _decoder.Append(0, _sequence.Recompute);
            }
            else
            {
                _stepToken[0] = Current;
                logits = _decoder.Step(_stepToken, _stepActive);
                _cached.Add(Current);
            }
            _runTicks += Stopwatch.GetTimestamp() - before;
        }

        bool produced = _sequence.Advance(logits);
        if (produced && _sequence.Generated == 1)
            _firstToken = Stopwatch.GetTimestamp();
        return produced;
    }

    /// <summary>Ends the sequence early.</summary>
    public void Stop() => _sequence.End(FinishReason.Stop);

    /// <summary>Text held back at the end of a sequence started with a tokenizer.</summary>
    public string FlushText() => _sequence.FlushText();

    public GenerationStats Stats
    {
        get
        {
            long now = Stopwatch.GetTimestamp();
            int generated = _sequence.Generated;
            return new GenerationStats
            {
                PromptTokens = PromptTokens,
                ReusedPromptTokens = ReusedPromptTokens,
                GeneratedTokens = generated,
                TimeToFirstToken = generated > 0 ? Stopwatch.GetElapsedTime(_start, _firstToken) : TimeSpan.Zero,
                DecodeTime = generated > 0 ? Stopwatch.GetElapsedTime(_firstToken, now) : TimeSpan.Zero,
                DecodeRunTime = TimeSpan.FromSeconds((double)_runTicks / Stopwatch.Frequency),
            };
        }
    }
}
