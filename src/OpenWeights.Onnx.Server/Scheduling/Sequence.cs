using System.Threading.Channels;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Server.Scheduling;

/// <summary>
/// One request inside the scheduler: its own per-sequence core (<see cref="SequenceGenerator"/>: sampler with its
/// penalties and seeded random stream, detokenizer, stop strings, EOS and length limits — the same core
/// <c>owonnx run</c> drives), so nothing of one request can reach another's text, and its event stream. Driven only by
/// the scheduler thread: <see cref="Begin"/> at admission, then <see cref="Advance"/> with each run's logits for its slot.
/// </summary>
internal sealed class Sequence
{
    private readonly Channel<SequenceEvent> _events =
        Channel.CreateUnbounded<SequenceEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private SequenceGenerator? _core;
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
    public int Generated => _core?.Generated ?? 0;
    public bool IsCancelled => Request.Cancellation.IsCancellationRequested;
    public CancellationTokenRegistration WakeRegistration { get; set; }
    /// <summary>
    /// The request's other choices (n &gt; 1): admitted with this one, they start from this one's prefilled prompt
    /// (its keys and values copied into their slots) instead of reading it again. Empty for n = 1.
    /// </summary>
    public IReadOnlyList<Sequence> Siblings { get; init; } = [];
    /// <summary>Prompt tokens taken from the prefix cache rather than computed.</summary>
    public int CachedTokens { get; set; }

    public bool HasBegun => _core is not null;

    /// <summary>This sequence's per-sequence core (after <see cref="Begin"/>).</summary>
    public SequenceGenerator Core => _core ?? throw new InvalidOperationException("the sequence has not begun.");

    /// <summary>Builds the per-sequence core; called when the sequence gets a slot.</summary>
    public void Begin(TextTokenizer tokenizer, int vocabSize, int[] eos, int maxLength, int? ropeSwitchLength)
    {
        _core = new SequenceGenerator(vocabSize, eos, maxLength, ropeSwitchLength);
        _core.Begin(Request.PromptIds, Request.Options, tokenizer, Request.LogProbs);
    }

    /// <summary>
    /// Chooses the next token from this sequence's logits (overwritten), reports it, and returns true while the
    /// sequence goes on; when it ends, the finish event has been written.
    /// </summary>
    public bool Advance(Span<float> logits, long now)
    {
        var core = Core;
        bool produced;
        try
        {
            produced = core.Advance(logits);
        }
        catch (Generation.Constraints.ConstraintDeadEndException e)
        {
            // This request's constraint cannot go on; the other sequences of the step are not concerned.
            Fail(SequenceFailure.Constraint, e.Message);
            return false;
        }
        if (produced)
        {
            LastTokenAt = now;
            var top = core.Options.TopLogProbs > 0 ? core.CurrentTopLogProbs.ToArray() : null;
            Write(new TokenGenerated(core.CurrentText, core.Current, core.CurrentLogProb, top));
        }
        if (core.Finish is { } reason)
        {
            Finish(reason);
            return false;
        }
        return true;
    }

    /// <summary>Ends the sequence: releases held-back text (unless cancelled) and writes the finish event.</summary>
    public void Finish(FinishReason reason)
    {
        if (_completed)
            return;
        if (reason != FinishReason.Cancelled && _core is not null)
        {
            _core.End(reason);
            string tail = _core.FlushText();
            if (tail.Length > 0)
                Write(new TokenGenerated(tail, -1, 0f, null));
        }
        Write(new SequenceFinished(reason, Request.PromptIds.Length, Generated, CachedTokens));
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
