using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Server.Scheduling;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>What the prefix cache may reuse (same adapter, within LongRoPE's short range, the last token always run) and what it evicts.</summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class PrefixCacheRuleTests
{
    private static int[] Ids(int from, int count) => Enumerable.Range(from, count).ToArray();

    private static AdapterFile Adapter(string path) => new()
    {
        Tensors = new Dictionary<string, (float[], long[])>(),
        Metadata = new Dictionary<string, string>(),
        Path = path,
    };

    [TestMethod]
    public void TheSharedPrefixIsReusedButTheLastPromptTokenIsAlwaysRun()
    {
        var cache = new PrefixCache(slots: 2, minTokens: 16, ropeSwitchLength: null);
        int[] held = Ids(0, 50);
        Assert.AreEqual(40, cache.Reusable(held, null, [.. Ids(0, 40), 999, 998], null));
        Assert.AreEqual(49, cache.Reusable(held, null, held, null), "the same prompt: all but its last token");
        Assert.AreEqual(29, cache.Reusable(held, null, Ids(0, 30), null), "a prompt inside the held tokens");
        Assert.AreEqual(0, cache.Reusable(held, null, [.. Ids(0, 15), 999], null), "shorter than the minimum");
    }

    [TestMethod]
    public void APrefixComputedUnderAnotherAdapterIsNotReused()
    {
        var cache = new PrefixCache(slots: 2, minTokens: 16, ropeSwitchLength: null);
        var one = Adapter("one.safetensors");
        var other = Adapter("other.safetensors");
        int[] held = Ids(0, 50), prompt = Ids(0, 60);
        Assert.AreEqual(0, cache.Reusable(held, null, prompt, one), "base model's keys for an adapter");
        Assert.AreEqual(0, cache.Reusable(held, one, prompt, null), "an adapter's keys for the base model");
        Assert.AreEqual(0, cache.Reusable(held, one, prompt, other), "another adapter's keys");
        Assert.AreEqual(50, cache.Reusable(held, one, prompt, one));
    }

    [TestMethod]
    public void LongRopeReusesOnlyWithinTheShortFactorsRange()
    {
        var cache = new PrefixCache(slots: 2, minTokens: 16, ropeSwitchLength: 64);
        Assert.AreEqual(50, cache.Reusable(Ids(0, 50), null, Ids(0, 60), null));
        Assert.AreEqual(0, cache.Reusable(Ids(0, 70), null, Ids(0, 60), null), "held keys rotated with the long factors");
        Assert.AreEqual(0, cache.Reusable(Ids(0, 50), null, Ids(0, 65), null), "a prompt read with the long factors");
    }

    [TestMethod]
    public void AnEmptySlotIsTakenFirstThenTheLeastRecentlyUsed()
    {
        var cache = new PrefixCache(slots: 4, minTokens: 1, ropeSwitchLength: null);
        cache.Keep(1, Ids(0, 3), null);
        cache.Keep(2, Ids(5, 3), null);
        cache.Keep(3, Ids(9, 3), null);
        Assert.AreEqual(0, cache.Victim(0, except: -1), "slot 0 is empty");
        Assert.AreEqual(1, cache.Victim(1, except: -1), "slot 1 is the oldest");
        cache.Touch(1);
        Assert.AreEqual(2, cache.Victim(1, except: -1), "slot 1 was used again");
        Assert.AreEqual(3, cache.Victim(1, except: 2));
        cache.Forget(3);
        Assert.AreEqual(3, cache.Victim(1, except: -1));
        Assert.AreEqual(-1, cache.Victim(4, except: -1));
        cache.Move(2, 0);
        Assert.IsNull(cache[2]);
        CollectionAssert.AreEqual(Ids(5, 3), cache[0]!.Tokens);
    }
}
