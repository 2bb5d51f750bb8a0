using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Server.Metrics;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Server.Scheduling;

/// <summary>
/// Continuous batching over one <see cref="BatchDecoder"/>, on a dedicated thread. Requests wait in a FIFO queue;
/// between steps a waiting request takes a free slot and its prompt is prefilled alone (<see cref="BatchDecoder.Append"/>
/// on a view of that slot) in chunks of at most <see cref="PrefillChunk"/> tokens per step, so a long prompt delays the
/// running sequences' next token by one chunk at most; then every decoding slot decodes together
/// (<see cref="SlotDecoder"/>, the loop <c>bench --batch</c> measures), each token chosen by the sequence's own
/// <see cref="SequenceGenerator"/> (the core <c>owonnx run</c> drives). Each slot decodes exactly as it would alone, so
/// a request's greedy output does not depend on what else is running.
/// </summary>
/// <remarks>
/// Slots stay compact (<see cref="SlotTable"/>): decoding sequences hold slots [0, decoding), the one prompt being
/// prefilled (if any) the next slot, and a step runs only those rows — a lone request costs a batch of one at any slot
/// count. When a sequence ends, the last decoding one moves into its slot (<see cref="BatchDecoder.MoveSlot"/>).
/// </remarks>
/// <remarks>
/// Prefix cache (<see cref="PrefixCache"/>, kept by the <see cref="SlotTable"/>): the free slots past the occupied ones
/// keep what finished sequences computed, since no step touches them. A new prompt starts from the longest prefix held
/// by any slot (a decoding sequence's or a free slot's, same adapter): taken in place when it is in the slot the prompt
/// gets, else copied (<see cref="BatchDecoder.CopyPrefix"/>); only the rest is read. A chat's next turn (its prompt begins with the
/// previous prompt and answer) and requests sharing a system prompt skip what was already computed. Entries are
/// overwritten least recently used first when slots are needed. A request with n choices reads its prompt once:
/// when it is read, its keys and values are copied into the slots of the other choices, which sample from the same logits.
/// </remarks>
/// <remarks>
/// Admission control: at most <c>slots + maxQueue</c> requests are in flight (decoding or waiting); beyond that
/// <see cref="Submit"/> throws <see cref="SchedulerRejectedException"/>. Shutdown: <see cref="BeginDrain"/> stops
/// accepting and lets in-flight work finish until a deadline, when the rest is failed; <see cref="Stop"/> ends the thread.
/// </remarks>
public sealed class Scheduler : IDisposable
{
    private static readonly TimeSpan IdleWait = TimeSpan.FromMilliseconds(250);

    private readonly BatchDecoder _decoder;
    private readonly TextTokenizer _tokenizer;
    private readonly int[] _eos;
    private readonly ServerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly int _capacity;
    private readonly SlotTable _slots;
    private readonly SequenceGenerator?[] _cores;
    private readonly bool[] _goesOn;
    private readonly SlotDecoder _runner;
    private readonly SlotDecoder.LogitsHandler _advance;
    // The prompt's last logits, kept for each choice of an n > 1 request (sampling overwrites them).
    private readonly float[] _sharedLogits;
    private readonly LinkedList<Sequence> _waiting = new(); // guarded by itself
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _thread;
    private int _inFlight;      // waiting + decoding; Interlocked
    private int _prefilled;     // prompt tokens of the sequence being prefilled already in the cache
    private bool _accepting = true; // guarded by _waiting
    private long _cancelAllAt = long.MaxValue;
    private volatile bool _stopRequested;
    private long _steps;
    private long _rowsRun;
    private long _prefillRuns;
    private bool _started;

    public Scheduler(BatchDecoder decoder, TextTokenizer tokenizer, IReadOnlyList<int> eosTokenIds, int maxQueue,
        ServerMetrics? metrics = null, ILogger? logger = null, int prefillChunk = DefaultPrefillChunk,
        bool prefixCache = true, int prefixCacheMinTokens = DefaultPrefixCacheMinTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxQueue);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefillChunk, 1);
        PrefillChunk = prefillChunk;
        _decoder = decoder;
        _tokenizer = tokenizer;
        _eos = eosTokenIds.ToArray();
        _metrics = metrics ?? new ServerMetrics();
        _logger = logger ?? NullLogger.Instance;
        MaxQueue = maxQueue;
        _capacity = decoder.Slots + maxQueue;
        _slots = new SlotTable(decoder,
            prefixCache ? new PrefixCache(decoder.Slots, prefixCacheMinTokens, decoder.Config.RopeSwitchLength) : null);
        _cores = new SequenceGenerator?[decoder.Slots];
        _goesOn = new bool[decoder.Slots];
        _runner = new SlotDecoder(decoder);
        _advance = AdvanceSlot;
        _sharedLogits = new float[decoder.VocabSize];
        _thread = new Thread(Run) { IsBackground = true, Name = "owonnx scheduler" };
        PublishGauges();
    }

    /// <summary>Prompt tokens read between two decode steps: long enough to prefill efficiently, short enough not to stall.</summary>
    public const int DefaultPrefillChunk = 128;

    /// <summary>Shortest prompt prefix taken from the cache: below this a copy saves too little to be worth it.</summary>
    public const int DefaultPrefixCacheMinTokens = 16;

    /// <summary>Whether prompts reuse keys and values that slots still hold (see the remarks on the class).</summary>
    public bool PrefixCacheEnabled => _slots.PrefixCacheEnabled;
    public int Slots => _slots.Count;
    /// <summary>Most prompt tokens run between two decode steps.</summary>
    public int PrefillChunk { get; }
    /// <summary>Sequence rows run by all decode steps so far: equal to <see cref="Steps"/> when every step ran one sequence.</summary>
    public long RowsRun => Interlocked.Read(ref _rowsRun);
    /// <summary>Runs over prompt tokens (chunks) so far.</summary>
    public long PrefillRuns => Interlocked.Read(ref _prefillRuns);
    /// <summary>What the scheduler thread runs, in order: for tests of the scheduling policy (not for timing).</summary>
    internal Action<SchedulerWork>? Observer { get; set; }
    public int MaxQueue { get; }
    public int MaxLength => _decoder.MaxLength;
    /// <summary>Decode steps run so far (each one Run over every slot).</summary>
    public long Steps => Interlocked.Read(ref _steps);
    /// <summary>Requests decoding or waiting.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);
    public bool IsAccepting { get { lock (_waiting) return _accepting; } }

    public void Start()
    {
        if (_started)
            throw new InvalidOperationException("the scheduler has already started.");
        _started = true;
        _thread.Start();
    }

    /// <summary>
    /// Queues a generation and returns its event stream. The prompt plus max new tokens must fit the cache (callers
    /// check it first, to answer with a clear error).
    /// </summary>
    public SequenceHandle Submit(SequenceRequest request) => SubmitChoices(request, 1)[0];

    /// <summary>
    /// Queues <paramref name="choices"/> generations from one prompt (OpenAI's <c>n</c>), read once and shared. With a
    /// seed, choice i samples with seed + i: the same request gives the same choices, and the choices differ.
    /// They are admitted together, so <paramref name="choices"/> may not exceed <see cref="Slots"/>.
    /// </summary>
    public IReadOnlyList<SequenceHandle> SubmitChoices(SequenceRequest request, int choices)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Options.Validate();
        if (choices < 1 || choices > Slots)
            throw new ArgumentOutOfRangeException(nameof(choices), $"{choices} choices: a request may ask for 1 to {Slots} (the batch slots).");
        if (request.PromptIds.Length == 0)
            throw new ArgumentException("the prompt is empty.");
        if ((long)request.PromptIds.Length + request.Options.MaxNewTokens > _decoder.MaxLength)
            throw new ContextOverflowException((long)request.PromptIds.Length + request.Options.MaxNewTokens, _decoder.MaxLength);
        foreach (int id in request.PromptIds)
            if ((uint)id >= (uint)_decoder.VocabSize)
                throw new ArgumentException($"prompt token id {id} is outside the vocabulary [0, {_decoder.VocabSize}).");

        long now = Stopwatch.GetTimestamp();
        var siblings = new Sequence[choices - 1];
        for (int i = 1; i < choices; i++)
            siblings[i - 1] = new Sequence(ChoiceRequest(request, i), now);
        var sequence = new Sequence(request, now) { Siblings = siblings };
        lock (_waiting)
        {
            if (!_accepting)
                throw new SchedulerRejectedException(SchedulerRejection.ShuttingDown, "the server is shutting down.");
            if (Interlocked.Add(ref _inFlight, choices) > _capacity)
            {
                Interlocked.Add(ref _inFlight, -choices);
                _metrics.CountRejected();
                throw new SchedulerRejectedException(SchedulerRejection.QueueFull,
                    $"all {Slots} slots are busy and {MaxQueue} requests are waiting.");
            }
            // A cancelled request that is still waiting should not hold its place until the next step.
            if (request.Cancellation.CanBeCanceled)
                sequence.WakeRegistration = request.Cancellation.UnsafeRegister(static s => Wake((AutoResetEvent)s!), _wake);
            _waiting.AddLast(sequence);
            _metrics.SetScheduler(_waiting.Count, _slots.Active, Slots);
        }
        _wake.Set();
        return [sequence.Handle, .. siblings.Select(c => c.Handle)];
    }

    /// <summary>Choice <paramref name="index"/> of a request: its own random stream (seed + index when seeded).</summary>
    private static SequenceRequest ChoiceRequest(SequenceRequest request, int index) =>
        request.Options.Sampling.Seed is { } seed
            ? request with { Options = request.Options with { Sampling = request.Options.Sampling with { Seed = unchecked(seed + index) } } }
            : request;

    /// <summary>Stops accepting requests; what is in flight may finish until <paramref name="deadline"/> from now.</summary>
    public void BeginDrain(TimeSpan deadline)
    {
        lock (_waiting)
            _accepting = false;
        long ticks = deadline >= TimeSpan.FromDays(1) ? long.MaxValue - Stopwatch.GetTimestamp()
            : (long)(deadline.TotalSeconds * Stopwatch.Frequency);
        Interlocked.Exchange(ref _cancelAllAt, Stopwatch.GetTimestamp() + Math.Max(0, ticks));
        _wake.Set();
    }

    /// <summary>Waits until nothing is in flight, or the token is cancelled.</summary>
    public async Task WaitIdleAsync(CancellationToken cancellationToken)
    {
        while (InFlight > 0)
            await Task.Delay(20, cancellationToken);
    }

    /// <summary>Ends the scheduler thread; anything still in flight fails with "shutting down".</summary>
    public void Stop()
    {
        lock (_waiting)
            _accepting = false;
        _stopRequested = true;
        _wake.Set();
        if (_started)
            _thread.Join();
        for (int s = _slots.Count - 1; s >= 0; s--)
            if (_slots[s] is { } sequence)
            {
                sequence.Fail(SequenceFailure.ShuttingDown, "the server shut down before the request finished.");
                Release(s, keepPrefix: false);
            }
        lock (_waiting)
        {
            foreach (var sequence in _waiting)
                foreach (var choice in (Sequence[])[sequence, .. sequence.Siblings])
                {
                    choice.Fail(SequenceFailure.ShuttingDown, "the server shut down before the request started.");
                    Interlocked.Decrement(ref _inFlight);
                }
            _waiting.Clear();
        }
        PublishGauges();
    }

    private static void Wake(AutoResetEvent wake)
    {
        try
        {
            wake.Set();
        }
        catch (ObjectDisposedException)
        {
            // The scheduler is gone; nothing to wake.
        }
    }

    private void Run()
    {
        while (!_stopRequested)
        {
            try
            {
                bool cancelAll = Stopwatch.GetTimestamp() >= Interlocked.Read(ref _cancelAllAt);
                Sweep(cancelAll);
                PrefillChunkOfPrompts();
                PublishGauges();
                if (_slots.Active == 0)
                {
                    _wake.WaitOne(IdleWait);
                    continue;
                }
                if (_slots.Decoding > 0)
                    DecodeStep();
            }
            catch (Exception e)
            {
                // The runtime failed on a step: those sequences cannot go on, but the server can.
                _logger.LogError(e, "Decode step failed; failing {Count} active sequences.", _slots.Active);
                for (int s = _slots.Count - 1; s >= 0; s--)
                    if (_slots[s] is { } sequence)
                    {
                        sequence.Fail(SequenceFailure.Internal, "the model failed while generating.");
                        Release(s, keepPrefix: false);
                    }
            }
        }
    }

    /// <summary>Ends cancelled sequences (waiting or decoding), or all of them once the drain deadline has passed.</summary>
    private void Sweep(bool cancelAll)
    {
        lock (_waiting)
        {
            for (var node = _waiting.First; node is not null;)
            {
                var next = node.Next;
                var sequence = node.Value;
                if (sequence.IsCancelled || cancelAll)
                {
                    _waiting.Remove(node);
                    foreach (var choice in (Sequence[])[sequence, .. sequence.Siblings])
                    {
                        Interlocked.Decrement(ref _inFlight);
                        if (sequence.IsCancelled)
                            choice.Finish(FinishReason.Cancelled);
                        else
                            choice.Fail(SequenceFailure.ShuttingDown, "the server shut down before the request started.");
                    }
                }
                node = next;
            }
        }
        for (int s = _slots.Count - 1; s >= 0; s--)
        {
            if (_slots[s] is not { } sequence)
                continue;
            if (sequence.IsCancelled)
                sequence.Finish(FinishReason.Cancelled);
            else if (cancelAll)
                sequence.Fail(SequenceFailure.ShuttingDown, "the server shut down before the request finished.");
            else
                continue;
            Release(s);
        }
    }

    /// <summary>
    /// Reads at most <see cref="PrefillChunk"/> prompt tokens: continues the prompt being prefilled, or gives the next
    /// free slot to the oldest waiting request. A prompt read to its end samples its first token and starts decoding.
    /// </summary>
    private void PrefillChunkOfPrompts()
    {
        int budget = PrefillChunk;
        while (budget > 0)
        {
            if (_slots.Prefilling is null && !TakeWaiting())
                return;
            var sequence = _slots.Prefilling!;
            int slot = _slots.Decoding;
            var prompt = sequence.Request.PromptIds;
            int count = Math.Min(budget, prompt.Length - _prefilled);
            try
            {
                if (!sequence.HasBegun)
                    sequence.Begin(_tokenizer, _decoder.VocabSize, _eos, _decoder.MaxLength, _decoder.Config.RopeSwitchLength);
                Observer?.Invoke(new SchedulerWork(SchedulerWorkKind.Prefill, slot, count));
                var logits = _decoder.Append(slot, prompt.AsSpan(_prefilled, count));
                Interlocked.Increment(ref _prefillRuns);
                _prefilled += count;
                budget -= count;
                if (_prefilled < prompt.Length)
                    continue;
                _metrics.AddPromptTokens(prompt.Length);
                if (sequence.Siblings.Count == 0)
                {
                    _slots.PromptRead();
                    Advance(slot, sequence, logits);
                }
                else
                {
                    StartChoices(sequence, logits);
                }
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Prefill failed for a prompt of {Tokens} tokens.", prompt.Length);
                sequence.Fail(SequenceFailure.Internal, "the model failed while reading the prompt.");
                if (ReferenceEquals(_slots.Prefilling, sequence))
                    foreach (var sibling in sequence.Siblings)
                    {
                        sibling.Fail(SequenceFailure.Internal, "the model failed while reading the prompt.");
                        Interlocked.Decrement(ref _inFlight);
                    }
                Release(slot, keepPrefix: false);
            }
        }
    }

    /// <summary>
    /// Puts the oldest waiting request into the slot after the decoding ones, starting from the longest cached prefix
    /// of its prompt; false when none waits or too few slots are free (a request with n choices needs n).
    /// </summary>
    private bool TakeWaiting()
    {
        Sequence sequence;
        lock (_waiting)
        {
            if (_waiting.First is null || !_slots.HasRoomFor(1 + _waiting.First.Value.Siblings.Count))
                return false;
            sequence = _waiting.First.Value;
            _waiting.RemoveFirst();
        }
        _prefilled = _slots.Admit(sequence);
        sequence.CachedTokens = _prefilled;
        if (_prefilled > 0)
            _metrics.AddCachedPromptTokens(_prefilled);
        return true;
    }

    /// <summary>
    /// The prompt of an n-choice request is read: its keys and values go into the next n − 1 slots (evicting what they
    /// cached), every choice starts from the same last logits, then those that ended at once are released.
    /// </summary>
    private void StartChoices(Sequence first, Span<float> logits)
    {
        var choices = (Sequence[])[first, .. first.Siblings];
        int slot = _slots.PromptRead();
        for (int k = 1; k < choices.Length; k++)
        {
            choices[k].CachedTokens = first.CachedTokens;
            choices[k].Begin(_tokenizer, _decoder.VocabSize, _eos, _decoder.MaxLength, _decoder.Config.RopeSwitchLength);
        }
        logits.CopyTo(_sharedLogits);
        for (int k = 0; k < choices.Length; k++)
        {
            if (k > 0)
                _sharedLogits.CopyTo(logits);
            var choice = choices[k];
            int before = choice.Generated;
            long previous = choice.LastTokenAt;
            _goesOn[slot + k] = choice.Advance(logits, Stopwatch.GetTimestamp());
            RecordToken(choice, before, previous);
        }
        for (int k = choices.Length - 1; k >= 0; k--)
            if (!_goesOn[slot + k])
                Release(slot + k);
    }

    /// <summary>
    /// Runs every decoding slot once (<see cref="SlotDecoder"/>: a batched step, or alone where a LongRoPE sequence
    /// is recomputed or the rows straddle its switch) and samples each; slots are released only after every row is
    /// sampled, since a release moves another sequence into the freed slot.
    /// </summary>
    private void DecodeStep()
    {
        int rows = _slots.Decoding;
        for (int s = 0; s < rows; s++)
            _cores[s] = _slots[s]!.Core;
        Observer?.Invoke(new SchedulerWork(SchedulerWorkKind.Step, 0, rows));
        _runner.Run(_cores.AsSpan(0, rows), _advance);
        Interlocked.Increment(ref _steps);
        Interlocked.Add(ref _rowsRun, rows);
        for (int s = rows - 1; s >= 0; s--)
        {
            _cores[s] = null;
            if (!_goesOn[s])
                Release(s);
        }
    }

    private void AdvanceSlot(int slot, Span<float> logits)
    {
        var sequence = _slots[slot]!;
        int before = sequence.Generated;
        long previous = sequence.LastTokenAt;
        _goesOn[slot] = sequence.Advance(logits, Stopwatch.GetTimestamp());
        RecordToken(sequence, before, previous);
    }

    private void Advance(int slot, Sequence sequence, Span<float> logits)
    {
        int before = sequence.Generated;
        long previous = sequence.LastTokenAt;
        bool goesOn = sequence.Advance(logits, Stopwatch.GetTimestamp());
        RecordToken(sequence, before, previous);
        if (!goesOn)
            Release(slot);
    }

    private void RecordToken(Sequence sequence, int before, long previous)
    {
        if (sequence.Generated > before)
        {
            _metrics.AddCompletionToken();
            if (before == 0)
                _metrics.TimeToFirstToken.Observe(Stopwatch.GetElapsedTime(sequence.EnqueuedAt, sequence.LastTokenAt).TotalSeconds);
            else
                _metrics.TimePerOutputToken.Observe(Stopwatch.GetElapsedTime(previous, sequence.LastTokenAt).TotalSeconds);
        }
    }

    /// <summary>Frees a slot (<see cref="SlotTable.Release"/>): its request is no longer in flight.</summary>
    private void Release(int slot, bool keepPrefix = true)
    {
        _slots.Release(slot, keepPrefix);
        Interlocked.Decrement(ref _inFlight);
    }

    private void PublishGauges()
    {
        int waiting;
        lock (_waiting)
            waiting = _waiting.Count;
        _metrics.SetScheduler(waiting, _slots.Active, Slots);
    }

    public void Dispose()
    {
        if (!_stopRequested)
            Stop();
        _wake.Dispose();
        _decoder.Dispose();
    }
}
