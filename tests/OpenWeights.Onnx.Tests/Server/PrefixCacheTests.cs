using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Server.Scheduling;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// The scheduler's prefix cache on the sample model: a prompt that starts with what a slot holds (a chat's next
/// turn, a shared beginning, a sequence still decoding) runs only the rest, and its tokens and log-probabilities are
/// transformers' (the held-out window's reference logits at the prompt's last position) and the cache-off run's;
/// an evicted entry is recomputed, exactly.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class PrefixCacheTests
{
    private const double Tolerance = 1e-4;

    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 6, StopAtEos = false, TopLogProbs = 20 };

    private static int Common(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.CommonPrefixLength(b);

    /// <summary>The first token is the reference's greedy choice and every reported log-probability is the reference's.</summary>
    private static void AssertFirstTokenIsReference(Finished finished, HeldoutWindow window, int promptLength, string what)
    {
        var reference = window.LogProbsAfter(promptLength);
        var first = finished.Tokens[0];
        Assert.AreEqual(Logits.ArgMax(window.LogitsAfter(promptLength)), first.TokenId, $"{what}: greedy token");
        Assert.AreEqual(reference[first.TokenId], first.LogProb, Tolerance, $"{what}: its log-probability");
        Assert.HasCount(20, first.TopLogProbs!);
        foreach (var alternative in first.TopLogProbs!)
            Assert.AreEqual(reference[alternative.TokenId], alternative.LogProb, Tolerance, $"{what}: log-probability of {alternative.TokenId}");
    }

    /// <summary>The same request on a scheduler without the cache: tokens and log-probabilities must be the same.</summary>
    private static async Task AssertSameAsWithoutCacheAsync(int[] prompt, Finished cached)
    {
        using var plain = new SchedulerHarness(slots: 1, prefixCache: false);
        var alone = await SchedulerHarness.ReadAllAsync(plain.Submit(prompt, Greedy, logProbs: true));
        Assert.AreEqual(0, alone.End.CachedTokens);
        CollectionAssert.AreEqual(alone.Ids, cached.Ids, "tokens with and without the cache");
        for (int i = 0; i < alone.Tokens.Count; i++)
            Assert.AreEqual(alone.Tokens[i].LogProb, cached.Tokens[i].LogProb, 1e-5f, $"log-probability of token {i} with and without the cache");
    }

    [TestMethod]
    public async Task AChatTurnContinuesFromWhatItsSlotHolds()
    {
        var window = HeldoutWindow.Load();
        using var h = new SchedulerHarness(slots: 2);
        var first = await SchedulerHarness.ReadAllAsync(h.Submit(window.Prefix(100), Greedy, logProbs: true));
        Assert.AreEqual(0, first.End.CachedTokens);
        AssertFirstTokenIsReference(first, window, 100, "first turn");

        // The slot holds the prompt and the answer's tokens fed back (all but the last one sampled).
        int[] held = [.. window.Prefix(100), .. first.Ids[..^1]];
        int[] next = window.Prefix(180);
        int expected = Math.Min(Common(held, next), next.Length - 1);
        Assert.IsGreaterThanOrEqualTo(100, expected);
        int runBefore = h.PromptTokensRun;
        var second = await SchedulerHarness.ReadAllAsync(h.Submit(next, Greedy, logProbs: true));

        Assert.AreEqual(expected, second.End.CachedTokens, "prompt tokens taken from the cache");
        Assert.AreEqual(next.Length - expected, h.PromptTokensRun - runBefore, "only the rest of the prompt was run");
        AssertFirstTokenIsReference(second, window, 180, "second turn");
        await AssertSameAsWithoutCacheAsync(next, second);
    }

    [TestMethod]
    public async Task APartialPrefixIsCopiedFromASequenceStillDecoding()
    {
        var window = HeldoutWindow.Load();
        using var h = new SchedulerHarness(slots: 3);
        int[] running = [.. window.Prefix(120), .. window.Ids[200..230]];
        var longOptions = new GenerationOptions { MaxNewTokens = 60, StopAtEos = false };
        var runningHandle = h.Submit(running, longOptions);
        // Wait until it decodes (its prompt is in slot 0), then send a prompt sharing only its first 120 tokens.
        using (var timeout = new CancellationTokenSource(SchedulerHarness.Patience))
            while (h.Scheduler.Steps < 3)
                await Task.Delay(5, timeout.Token);
        int[] other = window.Prefix(170);
        int expected = Math.Min(Common(running, other), other.Length - 1);
        Assert.AreEqual(120, expected, "the prompts share exactly their first 120 tokens");
        var joined = await SchedulerHarness.ReadAllAsync(h.Submit(other, Greedy, logProbs: true));
        var runningDone = await SchedulerHarness.ReadAllAsync(runningHandle);

        Assert.AreEqual(expected, joined.End.CachedTokens);
        AssertFirstTokenIsReference(joined, window, 170, "copied prefix");
        await AssertSameAsWithoutCacheAsync(other, joined);
        // The sequence it was copied from is undisturbed.
        using var alone = new TextGenerator(h.Model, h.Tokenizer);
        CollectionAssert.AreEqual(alone.Generate(running, longOptions).TokenIds.ToArray(), runningDone.Ids);
    }

    [TestMethod]
    public async Task AnEvictedEntryIsRecomputedAndAKeptOneStillServes()
    {
        var window = HeldoutWindow.Load();
        // Two slots: one for the running request, one for the cache; a third prompt evicts the least recent entry.
        using var h = new SchedulerHarness(slots: 2);
        int[] a = window.Prefix(100), b = window.Ids[100..200], c = window.Ids[150..250];
        var results = new List<Finished>();
        foreach (var prompt in new[] { a, b, c })
            results.Add(await SchedulerHarness.ReadAllAsync(h.Submit(prompt, Greedy, logProbs: true)));
        Assert.IsTrue(results.All(r => r.End.CachedTokens == 0), "three unrelated prompts");

        // a's entry was the least recently used: gone. The prompt is read again and still gives the reference.
        int[] aLonger = window.Prefix(150);
        var recomputed = await SchedulerHarness.ReadAllAsync(h.Submit(aLonger, Greedy, logProbs: true));
        Assert.AreEqual(0, recomputed.End.CachedTokens, "a's entry was evicted");
        AssertFirstTokenIsReference(recomputed, window, 150, "after eviction");

        // c's entry was saved from the slot the next request took: a prompt extending c reuses it.
        int[] cLonger = window.Ids[150..256];
        int[] cHeld = [.. c, .. results[2].Ids[..^1]];
        var reused = await SchedulerHarness.ReadAllAsync(h.Submit(cLonger, Greedy, logProbs: true));
        Assert.AreEqual(Math.Min(Common(cHeld, cLonger), cLonger.Length - 1), reused.End.CachedTokens, "c's entry, kept");
        Assert.IsGreaterThanOrEqualTo(100, reused.End.CachedTokens);
        await AssertSameAsWithoutCacheAsync(cLonger, reused);
    }

    [TestMethod]
    public async Task WithTheCacheOffEveryPromptIsReadWhole()
    {
        var window = HeldoutWindow.Load();
        using var h = new SchedulerHarness(slots: 2, prefixCache: false);
        Assert.IsFalse(h.Scheduler.PrefixCacheEnabled);
        await SchedulerHarness.ReadAllAsync(h.Submit(window.Prefix(100), Greedy));
        var second = await SchedulerHarness.ReadAllAsync(h.Submit(window.Prefix(180), Greedy, logProbs: true));
        Assert.AreEqual(0, second.End.CachedTokens);
        Assert.AreEqual(280, h.PromptTokensRun);
        AssertFirstTokenIsReference(second, window, 180, "cache off");
    }
}
