using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Generation;

/// <summary>What the runtime must run to get a sequence's next logits.</summary>
public enum NextRun
{
    /// <summary>Nothing: the sequence has finished.</summary>
    None,
    /// <summary>One decode step feeding <see cref="SequenceGenerator.Current"/>.</summary>
    Step,
    /// <summary>
    /// Discard the sequence's cache and run <see cref="SequenceGenerator.Recompute"/> (prompt, generated tokens and
    /// <see cref="SequenceGenerator.Current"/>) as one prefill: a LongRoPE model crosses its switch length, after
    /// which the cached keys (rotated with the short factors) no longer hold, as transformers does.
    /// </summary>
    Recompute,
}

/// <summary>
/// One sequence's generation, apart from the runtime that computes its logits: the sampler (penalties, seeded
/// random stream), EOS and length limits, the streaming detokenizer and stop strings, and what the runtime must
/// run next. <c>owonnx run/chat</c> (<see cref="TokenStream"/>), the server's scheduler and <c>bench</c> all drive it,
/// so a sequence ends and reads the same wherever it runs. Without a tokenizer (token ids only) it allocates
/// nothing per token.
/// </summary>
public sealed class SequenceGenerator
{
    private readonly int _vocabSize;
    private readonly int[] _eos;
    private readonly int? _ropeSwitchLength;
    private readonly int[] _tokens;
    private TokenSampler? _sampler;
    private StreamingDetokenizer? _detokenizer;
    private StopStringMatcher? _stops;
    private ConstraintMatcher? _constraint;
    private OutputConstraint? _constraintSource;
    private TextTokenizer? _constraintTokenizer;
    private readonly float[] _eosLogits;
    private TokenLogProb[] _top = [];
    private GenerationOptions _options = new();
    private bool _logProbs;
    private bool _pending;

    /// <param name="maxLength">Longest sequence (prompt and generated tokens) the runtime holds.</param>
    /// <param name="ropeSwitchLength">A LongRoPE model's switch length (<c>owonnx.rope_switch_length</c>), or null.</param>
    public SequenceGenerator(int vocabSize, IReadOnlyList<int> eosTokenIds, int maxLength, int? ropeSwitchLength)
    {
        _vocabSize = vocabSize;
        _eos = eosTokenIds.ToArray();
        _ropeSwitchLength = ropeSwitchLength;
        _tokens = new int[maxLength];
        _eosLogits = new float[_eos.Length];
    }

    /// <summary>The last token produced (the one the runtime feeds next).</summary>
    public int Current { get; private set; }
    public float CurrentLogProb { get; private set; }
    public ReadOnlySpan<TokenLogProb> CurrentTopLogProbs => _top;
    /// <summary>Text released with <see cref="Current"/> (held back while it may begin a stop string); "" without a tokenizer.</summary>
    public string CurrentText { get; private set; } = "";
    public FinishReason? Finish { get; private set; }
    public int Generated { get; private set; }
    public int PromptTokens { get; private set; }
    /// <summary>Tokens the runtime has run for this sequence: the prompt and the generated tokens fed back.</summary>
    public int Length { get; private set; }
    public GenerationOptions Options => _options;

    /// <summary>The constraint's matcher for this sequence (null without <see cref="GenerationOptions.Constraint"/>).</summary>
    public ConstraintMatcher? Constraint => _constraint;

    /// <summary>Prompt and generated tokens the runtime has run.</summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Length);

    /// <summary>What the runtime must run next (after each <see cref="Advance"/>).</summary>
    public NextRun Next => Finish is not null || !_pending ? NextRun.None
        : _ropeSwitchLength == Length ? NextRun.Recompute
        : NextRun.Step;

    /// <summary>The whole sequence to run for <see cref="NextRun.Recompute"/>, <see cref="Current"/> included.</summary>
    public ReadOnlySpan<int> Recompute
    {
        get
        {
            _tokens[Length] = Current;
            return _tokens.AsSpan(0, Length + 1);
        }
    }

    /// <summary>
    /// Starts a sequence whose prompt the runtime has run (its logits go to the first <see cref="Advance"/>).
    /// With a <paramref name="tokenizer"/> each token's text is detokenized and cut at the stop strings.
    /// </summary>
    public void Begin(ReadOnlySpan<int> prompt, GenerationOptions options, TextTokenizer? tokenizer = null, bool logProbs = true)
    {
        options.Validate();
        if (prompt.Length == 0)
            throw new ArgumentException("the prompt is empty.");
        // In long: a max-new-tokens near int.MaxValue must not wrap around and pass the check.
        if ((long)prompt.Length + options.MaxNewTokens > _tokens.Length)
            throw new Runtime.ContextOverflowException((long)prompt.Length + options.MaxNewTokens, _tokens.Length);
        StartConstraint(options.Constraint, tokenizer);
        _options = options;
        if (_sampler is null || _sampler.Options != options.Sampling)
            _sampler = new TokenSampler(options.Sampling, _vocabSize);
        else
            _sampler.Reset();
        _sampler.ObservePrompt(prompt);
        if (_top.Length != options.TopLogProbs)
            _top = new TokenLogProb[options.TopLogProbs];
        _detokenizer = tokenizer?.CreateStreamingDetokenizer(skipSpecialTokens: true);
        _stops = tokenizer is null ? null : new StopStringMatcher(options.StopStrings);
        _logProbs = logProbs || options.TopLogProbs > 0;
        prompt.CopyTo(_tokens);
        Length = PromptTokens = prompt.Length;
        Generated = 0;
        Finish = null;
        _pending = false;
        CurrentText = "";
        CurrentLogProb = 0f;
    }

    private void StartConstraint(OutputConstraint? constraint, TextTokenizer? tokenizer)
    {
        if (constraint is null)
        {
            _constraint = null;
            return;
        }
        if (tokenizer is null)
            throw new ArgumentException("a constrained generation needs the tokenizer (the constraint is on the text).");
        if (_constraint is not null && ReferenceEquals(constraint, _constraintSource) && ReferenceEquals(tokenizer, _constraintTokenizer))
        {
            _constraint.Reset();
            return;
        }
        _constraint = constraint.Start(tokenizer);
        _constraintSource = constraint;
        _constraintTokenizer = tokenizer;
    }

    /// <summary>
    /// Chooses the next token from the logits of the last run (overwritten: penalties and temperature apply in
    /// place). Returns true when a token was produced (<see cref="Current"/>); <see cref="Finish"/> then says whether
    /// the sequence goes on. EOS ends the sequence without producing a token.
    /// </summary>
    /// <exception cref="ConstraintDeadEndException">No token continues the constrained document (the sequence is
    /// then over: <see cref="Next"/> is <see cref="NextRun.None"/>).</exception>
    public bool Advance(Span<float> logits)
    {
        var sampler = _sampler ?? throw new InvalidOperationException("the sequence has not begun.");
        if (Finish is not null)
            return false;
        if (_pending)
            _tokens[Length++] = Current;   // the runtime fed it to compute these logits

        if (_constraint is not null && !MaskByConstraint(_constraint, logits))
        {
            _pending = false;
            if (_constraint.CanEnd)
            {
                // A whole document the vocabulary cannot continue, with EOS ignored (benchmarks): it is over.
                Finish = FinishReason.Stop;
                return false;
            }
            // Only this sequence fails: the caller (the scheduler, a token stream) reports it and goes on.
            throw _constraint.DeadEnd(_constraintTokenizer!.Decode(_tokens.AsSpan(PromptTokens, Length - PromptTokens), skipSpecialTokens: true));
        }

        int token;
        float logProb = 0f;
        if (_options.TopLogProbs > 0)
            token = sampler.Sample(logits, out logProb, _top);
        else if (_logProbs)
            token = sampler.Sample(logits, out logProb);
        else
            token = sampler.Sample(logits);
        sampler.Observe(token);
        CurrentLogProb = logProb;

        if (_options.StopAtEos && Array.IndexOf(_eos, token) >= 0)
        {
            _pending = false;
            Finish = FinishReason.Stop;
            return false;
        }
        Current = token;
        Generated++;
        _pending = true;
        // Stop strings are matched only in free text: a constrained document (a response_format, a tool call) is
        // never cut short by one, so it always parses.
        bool free = true;
        if (_constraint is not null)
        {
            bool wasFree = _constraint.InFreeText;
            _constraint.Accept(_constraintTokenizer!.TokenBytes(token));
            free = wasFree && _constraint.InFreeText;
            if (_constraint.IsComplete)
                Finish = FinishReason.Stop; // the document is whole: only EOS could follow
        }
        if (_stops is not null)
        {
            var chars = _detokenizer!.NextChars(token);
            CurrentText = free ? _stops.Push(chars) : _stops.PushUnmatched(chars);
            if (_stops.Stopped)
                Finish = FinishReason.Stop;
        }
        if (Finish is null && Generated >= _options.MaxNewTokens)
            Finish = FinishReason.Length;
        return true;
    }

    /// <summary>
    /// Masks what cannot continue the constrained document; EOS keeps its logit exactly when the document may end
    /// there (and the sequence stops at EOS). Logit bias is added by the sampler afterwards: a masked token stays −∞.
    /// Returns false when nothing at all may come next (no token, and no EOS).
    /// </summary>
    private bool MaskByConstraint(ConstraintMatcher constraint, Span<float> logits)
    {
        bool eosAllowed = _options.StopAtEos && constraint.CanEnd;
        if (eosAllowed)
            for (int i = 0; i < _eos.Length; i++)
                _eosLogits[i] = (uint)_eos[i] < (uint)logits.Length ? logits[_eos[i]] : 0f;
        bool any = constraint.Mask(logits);
        if (eosAllowed)
            for (int i = 0; i < _eos.Length; i++)
                if ((uint)_eos[i] < (uint)logits.Length)
                {
                    logits[_eos[i]] = _eosLogits[i];
                    any = true;
                }
        return any;
    }

    /// <summary>Ends the sequence early (a client hung up, or the caller stops it).</summary>
    public void End(FinishReason reason) => Finish ??= reason;

    /// <summary>Text held back at the end (a partial character or a possible stop string that did not come); "" after a stop string or without a tokenizer.</summary>
    public string FlushText() =>
        _stops is null || _detokenizer is null ? "" : _stops.Push(_detokenizer.Flush()) + _stops.Flush();
}
