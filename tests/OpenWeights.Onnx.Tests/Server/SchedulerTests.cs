using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Server.Scheduling;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>The scheduler alone (no HTTP): continuous batching, cancellation, admission control, drain.</summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class SchedulerTests
{
    private sealed class Harness : IDisposable
    {
        public Harness(int slots, int maxQueue, int prefillChunk = Scheduler.DefaultPrefillChunk)
        {
            string dir = FortuneReference.ConvertedFp32;
            Model = LanguageModel.Load(dir);
            Tokenizer = TextTokenizer.FromFolder(dir);
            Eos = Model.Config.EosTokenIds.Union(Tokenizer.EosTokenIds).ToArray();
            Scheduler = new Scheduler(Model.CreateDecoder(slots), Tokenizer, Eos, maxQueue, prefillChunk: prefillChunk);
            Scheduler.Observer = Work.Enqueue;
            Scheduler.Start();
        }

        /// <summary>Every run the scheduler made, in order.</summary>
        public System.Collections.Concurrent.ConcurrentQueue<SchedulerWork> Work { get; } = new();

        public LanguageModel Model { get; }
        public TextTokenizer Tokenizer { get; }
        public int[] Eos { get; }
        public Scheduler Scheduler { get; }

        public SequenceHandle Submit(int[] prompt, GenerationOptions options, CancellationToken cancellation = default) =>
            Scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = options, Cancellation = cancellation });

        public void Dispose()
        {
            Scheduler.Dispose();
            Model.Dispose();
        }
    }

    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    /// <summary>Reads one sequence's events, keeping every token read, so a test can read some now and the rest later.</summary>
    private sealed class Reader(SequenceHandle handle)
    {
        public List<int> Ids { get; } = [];
        public System.Text.StringBuilder Text { get; } = new();

        public async Task<SequenceEvent?> NextAsync()
        {
            using var timeout = new CancellationTokenSource(Patience);
            if (!await handle.Events.WaitToReadAsync(timeout.Token))
                return null;
            var e = await handle.Events.ReadAsync(timeout.Token);
            if (e is TokenGenerated t)
            {
                Text.Append(t.Text);
                if (t.TokenId >= 0) Ids.Add(t.TokenId);
            }
            return e;
        }

        public async Task TokensAsync(int count)
        {
            while (Ids.Count < count)
                if (await NextAsync() is null or not TokenGenerated)
                    Assert.Fail("the sequence ended early");
        }

        public async Task<(List<int> Ids, string Text, SequenceEvent Last)> ToEndAsync()
        {
            while (await NextAsync() is { } e)
                if (e is not TokenGenerated)
                    return (Ids, Text.ToString(), e);
            throw new AssertFailedException("the event stream ended without a finish");
        }
    }

    private static Task<(List<int> Ids, string Text, SequenceEvent Last)> ReadAllAsync(SequenceHandle handle) => new Reader(handle).ToEndAsync();

    private static Task ReadTokensAsync(SequenceHandle handle, int count) => new Reader(handle).TokensAsync(count);

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (!condition())
            await Task.Delay(10, timeout.Token).ContinueWith(t => { if (t.IsCanceled) Assert.Fail($"timed out waiting until {what}"); });
    }

    [TestMethod]
    public async Task RequestsJoiningARunningBatchGetTheirAloneGreedyTokens()
    {
        using var h = new Harness(slots: 3, maxQueue: 8);
        var references = FortuneReference.Greedy();
        var greedy = new GenerationOptions { MaxNewTokens = 40 };
        var long1 = new GenerationOptions { MaxNewTokens = 57, StopAtEos = false };
        int[] longPrompt = h.Tokenizer.Encode("Computers are", addSpecialTokens: true);

        // Two start; the rest join while they decode (and queue while the three slots are busy).
        var first = new Reader(h.Submit(references[0].InputIds, greedy));
        var running = h.Submit(longPrompt, long1);
        await first.TokensAsync(5);
        var later = references.Skip(1).Select(r => h.Submit(r.InputIds, greedy)).ToList();

        var results = new List<(List<int> Ids, string Text, SequenceEvent Last)> { await first.ToEndAsync() };
        foreach (var handle in later)
            results.Add(await ReadAllAsync(handle));
        var (longIds, _, longLast) = await ReadAllAsync(running);

        for (int i = 0; i < references.Count; i++)
        {
            var reference = references[i];
            bool stoppedAtEos = reference.GenerateApiIds[^1] == 0;
            var expected = stoppedAtEos ? reference.GenerateApiIds[..^1] : reference.GenerateApiIds;
            CollectionAssert.AreEqual(expected, results[i].Ids, $"ids for '{reference.Prompt}'");
            Assert.AreEqual(reference.TextUntilEos, results[i].Text, $"text for '{reference.Prompt}'");
            Assert.AreEqual(new SequenceFinished(stoppedAtEos ? FinishReason.Stop : FinishReason.Length, reference.InputIds.Length, expected.Length), results[i].Last);
        }

        using var alone = new TextGenerator(h.Model, h.Tokenizer);
        CollectionAssert.AreEqual(alone.Generate(longPrompt, long1).TokenIds.ToArray(), longIds);
        Assert.AreEqual(new SequenceFinished(FinishReason.Length, longPrompt.Length, 57), longLast);
        await WaitUntilAsync(() => h.Scheduler.InFlight == 0, "every slot is free");
    }

    [TestMethod]
    public async Task ALoneRequestRunsABatchOfOneWhateverTheSlotCount()
    {
        using var h = new Harness(slots: 8, maxQueue: 1);
        var reference = FortuneReference.Greedy()[0];
        var (ids, _, _) = await ReadAllAsync(h.Submit(reference.InputIds, new GenerationOptions { MaxNewTokens = 40 }));

        CollectionAssert.AreEqual(reference.GenerateApiIds.Where(t => t != 0).ToList(), ids);
        Assert.IsGreaterThan(0L, h.Scheduler.Steps);
        Assert.AreEqual(h.Scheduler.Steps, h.Scheduler.RowsRun, "every step ran one row");
        Assert.IsTrue(h.Work.Where(w => w.Kind == SchedulerWorkKind.Step).All(w => w.Count == 1));
    }

    [TestMethod]
    public async Task WhenANeighbourEndsTheRemainingSequenceMovesUpAndRunsAlone()
    {
        using var h = new Harness(slots: 4, maxQueue: 1);
        var references = FortuneReference.Greedy();
        var shortOne = h.Submit(references[0].InputIds, new GenerationOptions { MaxNewTokens = 8, StopAtEos = false });
        var reader = new Reader(h.Submit(references[1].InputIds, new GenerationOptions { MaxNewTokens = 40 }));
        await ReadAllAsync(shortOne);
        var (ids, _, _) = await reader.ToEndAsync();

        // The second request started in slot 1 and continued from slot 0: its tokens are still the reference's.
        CollectionAssert.AreEqual(references[1].GenerateApiIds.Where(t => t != 0).ToList(), ids);
        var steps = h.Work.Where(w => w.Kind == SchedulerWorkKind.Step).Select(w => w.Count).ToList();
        CollectionAssert.Contains(steps, 2, "the two requests decoded together");
        Assert.AreEqual(1, steps[^1], "once alone, the remaining request ran a batch of one");
        Assert.IsTrue(steps.SkipWhile(c => c != 2).SkipWhile(c => c == 2).All(c => c == 1));
    }

    [TestMethod]
    public async Task ALongPromptJoiningABusyBatchIsReadInChunksBetweenSteps()
    {
        const int chunk = 3;
        using var h = new Harness(slots: 4, maxQueue: 1, prefillChunk: chunk);
        var references = FortuneReference.Greedy();
        var joining = references.OrderByDescending(r => r.InputIds.Length).First();
        Assert.IsGreaterThan(2 * chunk, joining.InputIds.Length, "the joining prompt needs at least three chunks");
        int[] runningPrompt = h.Tokenizer.Encode("Computers are", addSpecialTokens: true);
        var running = new Reader(h.Submit(runningPrompt, new GenerationOptions { MaxNewTokens = 40, StopAtEos = false }));
        await running.TokensAsync(3);
        var (ids, _, _) = await ReadAllAsync(h.Submit(joining.InputIds, new GenerationOptions { MaxNewTokens = 40 }));
        var (runningIds, _, _) = await running.ToEndAsync();

        CollectionAssert.AreEqual(joining.GenerateApiIds.Where(t => t != 0).ToList(), ids);
        using (var alone = new TextGenerator(h.Model, h.Tokenizer))
            CollectionAssert.AreEqual(alone.Generate(runningPrompt, new GenerationOptions { MaxNewTokens = 40, StopAtEos = false }).TokenIds.ToArray(), runningIds);

        // The joining prompt (slot 1) was read in chunks of at most 3, with a step for the running sequence between them.
        var work = h.Work.ToList();
        var chunks = work.Select((w, i) => (w, i)).Where(x => x.w is { Kind: SchedulerWorkKind.Prefill, Slot: 1 }).ToList();
        Assert.AreEqual((joining.InputIds.Length + chunk - 1) / chunk, chunks.Count);
        Assert.AreEqual(joining.InputIds.Length, chunks.Sum(c => c.w.Count));
        Assert.IsTrue(chunks.All(c => c.w.Count <= chunk));
        for (int c = 1; c < chunks.Count; c++)
            Assert.IsTrue(work.Skip(chunks[c - 1].i + 1).Take(chunks[c].i - chunks[c - 1].i - 1).Any(w => w is { Kind: SchedulerWorkKind.Step, Count: 1 }),
                $"no decode step between prompt chunks {c - 1} and {c}");
        Assert.AreEqual(h.Scheduler.PrefillRuns, work.Count(w => w.Kind == SchedulerWorkKind.Prefill));
    }

    [TestMethod]
    public async Task SeededSamplingInABatchEqualsSamplingAlone()
    {
        using var h = new Harness(slots: 4, maxQueue: 4);
        var sampled = new GenerationOptions
        {
            MaxNewTokens = 30,
            Sampling = new SamplingOptions { Temperature = 1f, TopP = 0.95f, Seed = 7, PresencePenalty = 0.5f },
        };
        int[] prompt = h.Tokenizer.Encode("Never trust a", addSpecialTokens: true);
        var neighbours = Enumerable.Range(0, 3)
            .Select(i => h.Submit(FortuneReference.Greedy()[i].InputIds, new GenerationOptions { MaxNewTokens = 40, StopAtEos = false }))
            .ToList();
        var (ids, _, _) = await ReadAllAsync(h.Submit(prompt, sampled));
        foreach (var n in neighbours)
            await ReadAllAsync(n);

        using var alone = new TextGenerator(h.Model, h.Tokenizer);
        CollectionAssert.AreEqual(alone.Generate(prompt, sampled).TokenIds.ToArray(), ids);
    }

    [TestMethod]
    public async Task CancellingFreesTheSlotWithinOneStep()
    {
        using var h = new Harness(slots: 1, maxQueue: 1);
        using var cancel = new CancellationTokenSource();
        int[] prompt = FortuneReference.Greedy()[0].InputIds;
        var handle = h.Submit(prompt, new GenerationOptions { MaxNewTokens = 400, StopAtEos = false }, cancel.Token);
        await new Reader(handle).TokensAsync(3);

        cancel.Cancel();
        // A step already running when the token was cancelled may still finish; no further step may run for it.
        long stepsAtCancel = h.Scheduler.Steps;
        SequenceEvent last;
        using (var timeout = new CancellationTokenSource(Patience))
            do last = await handle.Events.ReadAsync(timeout.Token);
            while (last is TokenGenerated);
        Assert.IsInstanceOfType<SequenceFinished>(last);
        Assert.AreEqual(FinishReason.Cancelled, ((SequenceFinished)last).Reason);
        Assert.IsTrue(h.Scheduler.Steps - stepsAtCancel <= 1, $"{h.Scheduler.Steps - stepsAtCancel} steps after cancelling");
        Assert.IsTrue(((SequenceFinished)last).CompletionTokens < 400);
        await WaitUntilAsync(() => h.Scheduler.InFlight == 0, "the slot is free");

        // The freed slot serves the next request normally.
        var reference = FortuneReference.Greedy()[1];
        var (ids, _, _) = await ReadAllAsync(h.Submit(reference.InputIds, new GenerationOptions { MaxNewTokens = 40 }));
        CollectionAssert.AreEqual(reference.GenerateApiIds[..^1], ids);
    }

    [TestMethod]
    public async Task AWaitingRequestCancelledBeforeItStartsLeavesTheQueue()
    {
        using var h = new Harness(slots: 1, maxQueue: 1);
        using var cancelRunning = new CancellationTokenSource();
        using var cancelWaiting = new CancellationTokenSource();
        var longRun = new GenerationOptions { MaxNewTokens = 400, StopAtEos = false };
        var running = h.Submit([0, 68], longRun, cancelRunning.Token);
        await ReadTokensAsync(running, 1);
        var waiting = h.Submit([0, 319], longRun, cancelWaiting.Token);
        Assert.AreEqual(2, h.Scheduler.InFlight);
        cancelWaiting.Cancel();
        var (ids, _, last) = await ReadAllAsync(waiting);
        Assert.AreEqual(0, ids.Count);
        Assert.AreEqual(FinishReason.Cancelled, ((SequenceFinished)last).Reason);
        await WaitUntilAsync(() => h.Scheduler.InFlight == 1, "the queue is empty");
        cancelRunning.Cancel();
        await ReadAllAsync(running);
    }

    [TestMethod]
    public async Task BeyondTheSlotsAndTheQueueRequestsAreRefused()
    {
        using var h = new Harness(slots: 1, maxQueue: 1);
        using var cancel = new CancellationTokenSource();
        var longRun = new GenerationOptions { MaxNewTokens = 400, StopAtEos = false };
        var running = h.Submit([0, 68], longRun, cancel.Token);
        var queued = h.Submit([0, 319], longRun, cancel.Token);
        var e = Assert.ThrowsExactly<SchedulerRejectedException>(() => h.Submit([0, 12], longRun));
        Assert.AreEqual(SchedulerRejection.QueueFull, e.Reason);
        cancel.Cancel();
        await ReadAllAsync(running);
        await ReadAllAsync(queued);
        await WaitUntilAsync(() => h.Scheduler.InFlight == 0, "all finished");
        var (ids, _, _) = await ReadAllAsync(h.Submit([0, 12], new GenerationOptions { MaxNewTokens = 3, StopAtEos = false }));
        Assert.AreEqual(3, ids.Count);
    }

    [TestMethod]
    public async Task DrainingFinishesWorkUntilTheDeadlineThenFailsTheRest()
    {
        using var h = new Harness(slots: 2, maxQueue: 2);
        var reference = FortuneReference.Greedy()[0];
        var finishing = h.Submit(reference.InputIds, new GenerationOptions { MaxNewTokens = 40 });
        h.Scheduler.BeginDrain(TimeSpan.FromMinutes(1));
        Assert.AreEqual(SchedulerRejection.ShuttingDown,
            Assert.ThrowsExactly<SchedulerRejectedException>(() => h.Submit([0, 12], new GenerationOptions())).Reason);
        var (ids, _, last) = await ReadAllAsync(finishing);
        Assert.AreEqual(FinishReason.Stop, ((SequenceFinished)last).Reason);
        Assert.AreEqual(reference.GenerateApiIds.Length - 1, ids.Count);

        using var h2 = new Harness(slots: 1, maxQueue: 1);
        var endless = h2.Submit([0, 68], new GenerationOptions { MaxNewTokens = 400, StopAtEos = false });
        await ReadTokensAsync(endless, 1);
        h2.Scheduler.BeginDrain(TimeSpan.Zero);
        var (_, _, failed) = await ReadAllAsync(endless);
        Assert.AreEqual(SequenceFailure.ShuttingDown, ((SequenceFailed)failed).Failure);
    }
}
