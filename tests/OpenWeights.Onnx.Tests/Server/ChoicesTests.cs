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
