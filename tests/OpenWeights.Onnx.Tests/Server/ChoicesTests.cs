using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Server.Scheduling;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// n choices of one request (<see cref="Scheduler.SubmitChoices"/>): the prompt is read once and its keys and values
/// copied to the other choices; greedy choices are each the reference; seeded choices are reproducible, differ from
/// each other, and choice i is what a lone request with seed + i gives.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class ChoicesTests
{
    private static async Task<Finished[]> ReadAllAsync(IReadOnlyList<SequenceHandle> handles) =>
        await Task.WhenAll(handles.Select(SchedulerHarness.ReadAllAsync));

    [TestMethod]
    public async Task GreedyChoicesAreEachTheReferenceFromOnePrefill()
    {
        using var h = new SchedulerHarness(slots: 4, prefixCache: false);
        var reference = FortuneReference.Greedy()[0];
        var choices = await ReadAllAsync(h.Scheduler.SubmitChoices(
            new SequenceRequest { PromptIds = reference.InputIds, Options = new GenerationOptions { MaxNewTokens = 40 } }, 3));

        var expected = reference.GenerateApiIds.Where(t => t != 0).ToArray();
        foreach (var choice in choices)
            CollectionAssert.AreEqual(expected, choice.Ids);
        Assert.AreEqual(reference.InputIds.Length, h.PromptTokensRun, "the prompt was read once for the three choices");
        Assert.IsTrue(h.Work.Where(w => w.Kind == SchedulerWorkKind.Step).Any(w => w.Count == 3), "the choices decoded together");
    }

    [TestMethod]
    public async Task SeededChoicesAreReproducibleAndDifferFromEachOther()
    {
        using var h = new SchedulerHarness(slots: 4);
        int[] prompt = h.Tokenizer.Encode("Never trust a", addSpecialTokens: true);
        var options = new GenerationOptions
        {
            MaxNewTokens = 30,
            StopAtEos = false,
            Sampling = new SamplingOptions { Temperature = 1f, TopP = 0.95f, Seed = 7 },
        };
        var request = new SequenceRequest { PromptIds = prompt, Options = options };
        var first = await ReadAllAsync(h.Scheduler.SubmitChoices(request, 3));
        var again = await ReadAllAsync(h.Scheduler.SubmitChoices(request, 3));

        for (int i = 0; i < 3; i++)
        {
            CollectionAssert.AreEqual(first[i].Ids, again[i].Ids, $"choice {i} with the same seed");
            for (int j = i + 1; j < 3; j++)
                CollectionAssert.AreNotEqual(first[i].Ids, first[j].Ids, $"choices {i} and {j}");
            // Choice i samples with seed + i, from the same prompt logits a lone request computes.
            var alone = await SchedulerHarness.ReadAllAsync(h.Submit(prompt, options with { Sampling = options.Sampling with { Seed = 7 + i } }));
            CollectionAssert.AreEqual(alone.Ids, first[i].Ids, $"choice {i} and a lone request with seed {7 + i}");
        }
    }

    [TestMethod]
    public async Task ChoicesThatEndAtOnceFreeTheirSlots()
    {
        using var h = new SchedulerHarness(slots: 3);
        var reference = FortuneReference.Greedy()[1];
        var choices = await ReadAllAsync(h.Scheduler.SubmitChoices(
            new SequenceRequest { PromptIds = reference.InputIds, Options = new GenerationOptions { MaxNewTokens = 1 } }, 3));
        Assert.IsTrue(choices.All(c => c.Ids.Length == 1 && c.Ids[0] == reference.GenerateApiIds[0]));
        using (var timeout = new CancellationTokenSource(SchedulerHarness.Patience))
            while (h.Scheduler.InFlight > 0)
                await Task.Delay(5, timeout.Token);

        var next = await SchedulerHarness.ReadAllAsync(h.Submit(reference.InputIds, new GenerationOptions { MaxNewTokens = 40 }));
        CollectionAssert.AreEqual(reference.GenerateApiIds.Where(t => t != 0).ToArray(), next.Ids);
    }

    /// <summary>
    /// Every slot copy the scheduler makes — choices from the prefilled prompt, a prefix from a decoding neighbour,
    /// compaction when a neighbour ends — through the path a KV cache in device memory takes (an Identity graph run
    /// by the provider; here the CPU provider over host memory): the tokens are still the references'.
    /// </summary>
    [TestMethod]
    public async Task WithCopiesThroughTheProviderChoicesPrefixesAndCompactionKeepTheReferenceTokens()
    {
        using var h = new SchedulerHarness(slots: 4, copyThroughProvider: true);
        Assert.IsTrue(h.Scheduler.PrefixCacheEnabled);
        var window = HeldoutWindow.Load();
        var references = FortuneReference.Greedy();
        var expected = references[2].GenerateApiIds.Where(t => t != 0).ToArray();

        // A long prompt decodes in slot 0 for a while; two choices of a reference prompt join (slots 1 and 2, copied),
        // then a prompt sharing the long one's first 120 tokens (copied from slot 0).
        var running = h.Submit(window.Prefix(120), new GenerationOptions { MaxNewTokens = 80, StopAtEos = false });
        using (var timeout = new CancellationTokenSource(SchedulerHarness.Patience))
            while (h.Scheduler.Steps < 2)
                await Task.Delay(5, timeout.Token);
        var choices = h.Scheduler.SubmitChoices(
            new SequenceRequest { PromptIds = references[2].InputIds, Options = new GenerationOptions { MaxNewTokens = 40 } }, 2);
        // It outlives the choices (at most 40 tokens), so it moves down from slot 3 when they end.
        var sharingOptions = new GenerationOptions { MaxNewTokens = 60, StopAtEos = false, TopLogProbs = 1 };
        var sharing = h.Submit(window.Prefix(170), sharingOptions, logProbs: true);

        var shared = await SchedulerHarness.ReadAllAsync(sharing);
        Assert.AreEqual(120, shared.End.CachedTokens);
        Assert.AreEqual(Logits.ArgMax(window.LogitsAfter(170)), shared.Ids[0]);
        Assert.AreEqual(window.LogProbsAfter(170)[shared.Ids[0]], shared.Tokens[0].LogProb, 1e-4);
        foreach (var choice in await ReadAllAsync(choices))
            CollectionAssert.AreEqual(expected, choice.Ids);
        // The long ones outlived their neighbours, moving down as they ended: still what they give alone.
        var runningDone = await SchedulerHarness.ReadAllAsync(running);
        using var alone = new TextGenerator(h.Model, h.Tokenizer);
        CollectionAssert.AreEqual(alone.Generate(window.Prefix(170), sharingOptions).TokenIds.ToArray(), shared.Ids);
        var steps = h.Work.Where(w => w.Kind == SchedulerWorkKind.Step).Select(w => w.Count).ToList();
        Assert.IsTrue(steps.SkipWhile(c => c != 4).Contains(2), "four rows, then two once the choices ended: slot 3 moved down");
        CollectionAssert.AreEqual(alone.Generate(window.Prefix(120), new GenerationOptions { MaxNewTokens = 80, StopAtEos = false }).TokenIds.ToArray(),
            runningDone.Ids);
    }

    [TestMethod]
    public void MoreChoicesThanSlotsAreRefused()
    {
        using var h = new SchedulerHarness(slots: 2);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => h.Scheduler.SubmitChoices(
            new SequenceRequest { PromptIds = [0, 5], Options = new GenerationOptions() }, 3));
        StringAssert.Contains(e.Message, "1 to 2");
        Assert.AreEqual(0, h.Scheduler.InFlight);
    }
}
