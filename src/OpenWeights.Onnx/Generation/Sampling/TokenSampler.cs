using System.Numerics.Tensors;

namespace OpenWeights.Onnx.Generation.Sampling;

/// <summary>
/// Chooses each next token of one sequence from the model's logits. It keeps that sequence's token history for the
/// penalties and its own seeded random stream, so use one per sequence (not thread-safe) and <see cref="Reset"/> it to
/// reuse it for another. Every buffer is allocated by the constructor: sampling allocates nothing.
/// </summary>
/// <remarks>
/// A step: <see cref="Sample(Span{float})"/> (or an overload with logprobs) on the last position's logits, then
/// <see cref="Observe"/> with the token the sequence actually continues with. Prompt tokens go to
/// <see cref="ObservePrompt"/> first: they count for the repetition penalty only (presence/frequency penalties count
/// generated tokens, as in OpenAI's API and vLLM).
/// </remarks>
public sealed class TokenSampler
{
    private const int DrawChunk = 512;

    private readonly float[] _probs;
    private readonly int[] _indices;
    private readonly int[] _bucketCounts = new int[Selection.BucketCount];
    private readonly double[] _bucketMasses = new double[Selection.BucketCount];
    // Penalty state, allocated only when a penalty is on: generated counts, "seen in prompt or generated",
    // and the distinct seen tokens in first-seen order (so applying and clearing cost O(distinct), not O(vocab)).
    private readonly int[]? _counts;
    private readonly bool[]? _seen;
    private readonly int[]? _seenTokens;
    private int _seenCount;
    private readonly int[] _biasTokens;
    private readonly float[] _biasValues;
    private Xoshiro256StarStar _rng;

    public TokenSampler(SamplingOptions options, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        options.Validate();
        options.ValidateFor(vocabSize);
        Options = options;
        _biasTokens = options.LogitBias?.Keys.ToArray() ?? [];
        _biasValues = options.LogitBias?.Values.ToArray() ?? [];
        VocabSize = vocabSize;
        _probs = new float[vocabSize];
        _indices = new int[vocabSize];
        if (options.HasPenalties)
        {
            _counts = new int[vocabSize];
            _seen = new bool[vocabSize];
            _seenTokens = new int[vocabSize];
        }
        Reseed();
    }

    public SamplingOptions Options { get; }

    /// <summary>The length every logits span must have.</summary>
    public int VocabSize { get; }

    /// <summary>The seed of the current random stream: <see cref="SamplingOptions.Seed"/>, or one drawn at random.</summary>
    public long Seed { get; private set; }

    /// <summary>Tokens passed to <see cref="Observe"/> since construction or <see cref="Reset"/>.</summary>
    public int GeneratedCount { get; private set; }

    /// <summary>Tokens passed to <see cref="ObservePrompt"/> since construction or <see cref="Reset"/>.</summary>
    public int PromptCount { get; private set; }

    /// <summary>
    /// Forgets the token history and restarts the random stream: from <see cref="SamplingOptions.Seed"/> again when
    /// set (so a reset sampler repeats itself), else from a fresh random seed.
    /// </summary>
    public void Reset()
    {
        if (_seenTokens is not null)
        {
            for (int i = 0; i < _seenCount; i++)
            {
                int t = _seenTokens[i];
                _seen![t] = false;
                _counts![t] = 0;
            }
        }
        _seenCount = 0;
        GeneratedCount = 0;
        PromptCount = 0;
        Reseed();
    }

    /// <summary>Records prompt (or other context) tokens: they are subject to the repetition penalty.</summary>
    public void ObservePrompt(ReadOnlySpan<int> tokens)
    {
        foreach (int token in tokens)
            CheckToken(token);
        foreach (int token in tokens)
            MarkSeen(token);
        PromptCount += tokens.Length;
    }

    /// <summary>Records a generated token (normally the one <see cref="Sample(Span{float})"/> returned).</summary>
    public void Observe(int token)
    {
        CheckToken(token);
        if (_counts is not null)
        {
            MarkSeen(token);
            _counts[token]++;
        }
        GeneratedCount++;
    }

    /// <summary>How many times <paramref name="token"/> was generated (0 when no penalty is on: nothing is counted).</summary>
    public int CountOf(int token)
    {
        CheckToken(token);
        return _counts?[token] ?? 0;
    }

    /// <summary>
    /// Applies the repetition, presence and frequency penalties to <paramref name="logits"/> in place.
    /// <see cref="Sample(Span{float})"/> does this itself; it is public for inspection and custom pipelines.
    /// </summary>
    public void ApplyPenalties(Span<float> logits)
    {
        CheckLength(logits.Length);
        if (_seenTokens is null)
            return;
        float repetition = Options.RepetitionPenalty;
        float presence = Options.PresencePenalty;
        float frequency = Options.FrequencyPenalty;
        bool repeat = repetition != 1f;
        for (int i = 0; i < _seenCount; i++)
        {
            int t = _seenTokens[i];
            float logit = logits[t];
            if (repeat)
                logit = logit > 0f ? logit / repetition : logit * repetition;
            int count = _counts![t];
            if (count > 0)
                logit -= presence + frequency * count;
            logits[t] = logit;
        }
    }

    /// <summary>
    /// Chooses the next token from one position's logits (length <see cref="VocabSize"/>), which are used as scratch
    /// and overwritten. Does not record the token: call <see cref="Observe"/> with the token the sequence takes.
    /// </summary>
    public int Sample(Span<float> logits) => SampleCore(logits, false, default, out _);

    /// <summary>
    /// Chooses the next token and gives its log-probability: the log-softmax of the logits after penalties and
    /// temperature (temperature 1 when greedy), before top-k/top-p/min-p truncation, so it is always finite.
    /// </summary>
    public int Sample(Span<float> logits, out float logProb) => SampleCore(logits, true, default, out logProb);

    /// <summary>
    /// As <see cref="Sample(Span{float}, out float)"/>, and fills <paramref name="topLogProbs"/> (at most
    /// <see cref="VocabSize"/> long) with the most likely tokens of the same distribution, most likely first
    /// (ties: lower id first), for <c>top_logprobs</c>.
    /// </summary>
    public int Sample(Span<float> logits, out float logProb, Span<TokenLogProb> topLogProbs)
    {
        if (topLogProbs.Length > VocabSize)
            throw new ArgumentException(
                $"topLogProbs has {topLogProbs.Length} entries, more than the vocabulary's {VocabSize}.", nameof(topLogProbs));
        return SampleCore(logits, true, topLogProbs, out logProb);
    }

    /// <summary>Adds <see cref="SamplingOptions.LogitBias"/> to <paramref name="logits"/> in place (before the penalties).</summary>
    public void ApplyLogitBias(Span<float> logits)
    {
        CheckLength(logits.Length);
        for (int i = 0; i < _biasTokens.Length; i++)
            logits[_biasTokens[i]] += _biasValues[i];
    }

    private int SampleCore(Span<float> logits, bool wantLogProb, Span<TokenLogProb> top, out float logProb)
    {
        ApplyLogitBias(logits);
        ApplyPenalties(logits);
        int argmax = ArgMax(logits);
        float max = logits[argmax];
        if (!float.IsFinite(max))
            throw new ArgumentException(
                float.IsNaN(max) ? "The logits contain NaN." :
                float.IsPositiveInfinity(max) ? "The logits contain +infinity." : "Every logit is -infinity.",
                nameof(logits));

        bool greedy = Options.IsGreedy;
        if (greedy && !wantLogProb)
        {
            logProb = 0f;
            return argmax;
        }

        // Shift so the top logit is 0 before scaling: (x - max) / T cannot overflow however small T is.
        // The span now holds log-probabilities up to the constant log(total).
        TensorPrimitives.Subtract(logits, max, logits);
        if (!greedy && Options.Temperature != 1f)
            TensorPrimitives.Divide(logits, Options.Temperature, logits);
        Span<float> probs = _probs;
        TensorPrimitives.Exp(logits, probs);
        float total = TensorPrimitives.Sum(probs);
        float logTotal = MathF.Log(total);
        if (top.Length > 0)
            FillTopLogProbs(logits, logTotal, top);

        int token = greedy ? argmax : Draw(logits, probs, argmax, total);
        logProb = wantLogProb ? logits[token] - logTotal : 0f;
        return token;
    }

    private int Draw(ReadOnlySpan<float> logits, ReadOnlySpan<float> probs, int argmax, float total)
    {
        Span<int> indices = _indices;
        int count = VocabSize;
        bool all = true;

        int topK = Options.TopK;
        if (topK > 0 && topK < VocabSize)
        {
            // Ranked by logit, which stays exact where far-off probabilities underflow to 0.
            count = Selection.SelectTopOfAll(indices, logits, topK);
            all = false;
        }
        float topP = Options.TopP;
        if (topP < 1f)
        {
            count = all
                ? Selection.SelectNucleusOfAll(indices, logits, probs, topP, _bucketCounts, _bucketMasses)
                : Selection.SelectNucleus(indices[..count], probs, topP * Selection.Sum(indices[..count], probs));
            all = false;
        }
        float minP = Options.MinP;
        if (minP > 0f)
        {
            // The top token survives every filter, so its probability is the kept maximum.
            float threshold = minP * probs[argmax];
            int kept = 0;
            if (all)
            {
                for (int t = 0; t < probs.Length; t++)
                    if (probs[t] >= threshold)
                        indices[kept++] = t;
            }
            else
            {
                for (int i = 0; i < count; i++)
                {
                    int t = indices[i];
                    if (probs[t] >= threshold)
                        indices[kept++] = t;
                }
            }
            count = kept;
            all = false;
        }

        return all ? DrawFromAll(probs, total) : DrawFrom(indices[..count], probs);
    }

    private int DrawFromAll(ReadOnlySpan<float> probs, float total)
    {
        double target = _rng.NextDouble() * total;
        double acc = 0;
        for (int start = 0; start < probs.Length; start += DrawChunk)
        {
            var chunk = probs.Slice(start, Math.Min(DrawChunk, probs.Length - start));
            float chunkSum = TensorPrimitives.Sum(chunk);
            if (acc + chunkSum <= target)
            {
                acc += chunkSum;
                continue;
            }
            for (int i = 0; i < chunk.Length; i++)
            {
                acc += chunk[i];
                if (acc > target)
                    return start + i;
            }
        }
        // Rounding left the target just past the running sum: take the last token with any probability.
        for (int t = probs.Length - 1; t >= 0; t--)
            if (probs[t] > 0f)
                return t;
        return 0;
    }

    private int DrawFrom(ReadOnlySpan<int> candidates, ReadOnlySpan<float> probs)
    {
        double target = _rng.NextDouble() * Selection.Sum(candidates, probs);
        double acc = 0;
        int last = candidates[0];
        foreach (int t in candidates)
        {
            float p = probs[t];
            if (p <= 0f)
                continue;
            acc += p;
            last = t;
            if (acc > target)
                return t;
        }
        return last;
    }

    private void FillTopLogProbs(ReadOnlySpan<float> logProbsUnnormalised, float logTotal, Span<TokenLogProb> top)
    {
        Span<int> indices = _indices;
        int count = Selection.SelectTopOfAll(indices, logProbsUnnormalised, top.Length);
        Selection.SortDescending(indices[..count], logProbsUnnormalised);
        for (int i = 0; i < top.Length; i++)
        {
            int t = indices[i];
            top[i] = new TokenLogProb(t, logProbsUnnormalised[t] - logTotal);
        }
    }

    /// <summary>Index of the largest logit, lowest index on ties (0 and -0 included); a NaN index when any is NaN.</summary>
    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        int index = TensorPrimitives.IndexOfMax(logits);
        if (logits[index] == 0f)
        {
            // IndexOfMax ranks +0 above -0; count them as equal.
            for (int i = 0; i < index; i++)
                if (logits[i] == 0f)
                    return i;
        }
        return index;
    }

    private void MarkSeen(int token)
    {
        if (_seen is null || _seen[token])
            return;
        _seen[token] = true;
        _seenTokens![_seenCount++] = token;
    }

    private void Reseed()
    {
        Seed = Options.Seed ?? Random.Shared.NextInt64(long.MinValue, long.MaxValue);
        _rng = new Xoshiro256StarStar(Seed);
    }

    private void CheckToken(int token)
    {
        if ((uint)token >= (uint)VocabSize)
            throw new ArgumentOutOfRangeException(nameof(token), token, $"Token ids must be in [0, {VocabSize}).");
    }

    private void CheckLength(int length)
    {
        if (length != VocabSize)
            throw new ArgumentException(
                $"The logits have {length} entries; this sampler was made for a vocabulary of {VocabSize}.", "logits");
    }
}
