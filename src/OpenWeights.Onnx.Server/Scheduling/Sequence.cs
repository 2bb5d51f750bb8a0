using System.Threading.Channels;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Server.Scheduling;

/// <summary>
/// One request's generation state inside the scheduler: its own sampler (penalties, seeded random stream),
/// detokenizer and stop-string matcher, so nothing of one request can reach another's text. Driven only by the
/// scheduler thread: <see cref="Begin"/> at admission, then <see cref="Advance"/> with each step's logits for its slot,
/// as <see cref="TokenStream"/> does for a single sequence.
/// </summary>
internal sealed class Sequence
{
    private readonly Channel<SequenceEvent> _events =
        Channel.CreateUnbounded<SequenceEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private TokenSampler? _sampler;
    private StreamingDetokenizer? _detokenizer;
    private StopStringMatcher? _stops;
    private TokenLogProb[] _top = [];
    private int[] _eos = [];
    private bool _completed;

    public Sequence(SequenceRequest request, long enqueuedAt)
    {
        Request = request;
        EnqueuedAt = enqueuedAt;
        Handle = new SequenceHandle(_events.Reader, request.PromptIds.Length);
    }

    public SequenceRequest Request { get; }
    public SequenceHandle Handle { get; }
    public long EnqueuedAt { get; }
    /// <summary>Timestamp of the last token produced (0 before the first).</summary>
    public long LastTokenAt { get; private set; }
    /// <summary>The token to feed at the next step (the one sampled last).</summary>
    public int PendingToken { get; private set; }
    public int Generated { get; private set; }
    public bool IsCancelled => Request.Cancellation.IsCancellationRequested;
    public CancellationTokenRegistration WakeRegistration { get; set; }

    /// <summary>Builds the per-sequence sampler, detokenizer and stop matcher; called when the sequence gets a slot.</summary>
    public void Begin(TextTokenizer tokenizer, int vocabSize, int[] eos)
    {
        var options = Request.Options;
        _sampler = new TokenSampler(options.Sampling, vocabSize);
        _sampler.ObservePrompt(Request.PromptIds);
        _detokenizer = tokenizer.CreateStreamingDetokenizer(skipSpecialTokens: true);
        _stops = new StopStringMatcher(options.StopStrings);
        _top = new TokenLogProb[options.TopLogProbs];
        _eos = eos;
    }

    /// <summary>
    /// Chooses the next token from this sequence's logits (overwritten), reports it, and returns true while the
    /// sequence goes on; when it ends, the finish event has been written.
    /// </summary>
    public bool Advance(Span<float> logits, long now)
    {
        var sampler = _sampler ?? throw new InvalidOperationException("the sequence has not begun.");
        var options = Request.Options;
        int token;
        float logProb = 0f;
        TokenLogProb[]? top = null;
        if (options.TopLogProbs > 0)
        {
            token = sampler.Sample(logits, out logProb, _top);
            top = (TokenLogProb[])_top.Clone();
        }
        else if (Request.LogProbs)
        {
            token = sampler.Sample(logits, out logProb);
        }
        else
        {
            token = sampler.Sample(logits);
        }
        sampler.Observe(token);

        if (options.StopAtEos && Array.IndexOf(_eos, token) >= 0)
        {
            Finish(FinishReason.Stop);
            return false;
        }
        Generated++;
        LastTokenAt = now;
        string text = _stops!.Push(_detokenizer!.NextChars(token));
        Write(new TokenGenerated(text, token, logProb, top));
        if (_stops.Stopped)
        {
            Finish(FinishReason.Stop);
            return false;
        }
        if (Generated >= options.MaxNewTokens)
        {
            Finish(FinishReason.Length);
            return false;
        }
        PendingToken = token;
        return true;
    }

    /// <summary>Ends the sequence: releases held-back text (unless cancelled) and writes the finish event.</summary>
    public void Finish(FinishReason reason)
    {
        if (_completed)
            return;
        if (reason != FinishReason.Cancelled && _detokenizer is not null && _stops is not null)
        {
            string tail = _stops.Push(_detokenizer.Flush()) + _stops.Flush();
            if (tail.Length > 0)
                Write(new TokenGenerated(tail, -1, 0f, null));
        }
        Write(new SequenceFinished(reason, Request.PromptIds.Length, Generated));
        Complete();
    }

    public void Fail(SequenceFailure failure, string message)
    {
        if (_completed)
            return;
        Write(new SequenceFailed(failure, message));
        Complete();
    }

    private void Write(SequenceEvent e) => _events.Writer.TryWrite(e);

    private void Complete()
    {
        _completed = true;
        _events.Writer.TryComplete();
        WakeRegistration.Dispose();
    }
}
