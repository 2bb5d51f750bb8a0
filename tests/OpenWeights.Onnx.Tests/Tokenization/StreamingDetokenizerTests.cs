using System.Text;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Tokenization;

/// <summary>
/// Incremental decoding with the Qwen3 tokenizer, where emoji and CJK characters are split over several byte-level
/// tokens: no fragment may hold half a character, and the fragments must add up to Hugging Face's decode.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class StreamingDetokenizerTests
{
    private static TextTokenizer Qwen => Qwen3TokenizerTests.Qwen;

    [TestMethod]
    public void AnEmojiSplitOverThreeTokensComesOutWholeWithTheLastOne()
    {
        // Hugging Face's Qwen3 ids for " 🤗" (from reference.json case 2): "Ġð" "Ł" "¤" + "Ĺ" in GPT-2's alphabet.
        int[] ids = Qwen.Encode(" 🤗", addSpecialTokens: false);
        CollectionAssert.AreEqual(new[] { 11162, 97, 245 }, ids);
        var stream = Qwen.CreateStreamingDetokenizer();
        Assert.AreEqual(" ", stream.Next(ids[0]));  // the space is complete; the emoji's first bytes are held
        Assert.AreEqual("", stream.Next(ids[1]));
        Assert.AreEqual("🤗", stream.Next(ids[2]));
        Assert.AreEqual("", stream.Flush());
    }

    [TestMethod]
    public void ReferenceStringsStreamWithoutHalfCharactersAndAddUpToTheDecode()
    {
        int splitTokens = 0, checkedCases = 0;
        foreach (var c in Qwen3TokenizerTests.ReferenceCases)
        {
            if (c.Decoded.All(ch => ch < 0x80))
                continue; // ASCII-only strings cannot split a character
            checkedCases++;
            var stream = Qwen.CreateStreamingDetokenizer();
            var text = new StringBuilder();
            foreach (int id in c.Ids)
            {
                string fragment = stream.Next(id);
                AssertWholeCharacters(fragment, c.Decoded, $"case #{c.Index}, token {id}");
                text.Append(fragment);
            }
            text.Append(stream.Flush());
            Assert.AreEqual(c.Decoded, text.ToString(), $"case #{c.Index}");
            splitTokens += CountTokensEndingMidCharacter(c.Ids);
        }
        Assert.IsGreaterThan(50, checkedCases, "the reference should have many non-ASCII strings");
        Assert.IsGreaterThan(100, splitTokens, "the reference should split many characters across tokens");
    }

    [TestMethod]
    public void CjkTextStreamsOneWholeCharacterAtATimeOrNothing()
    {
        const string text = "我们在北京的天安门广场见面。東京タワー、서울 🇰🇷👩‍👩‍👧‍👦!";
        int[] ids = Qwen.Encode(text, addSpecialTokens: false);
        var stream = Qwen.CreateStreamingDetokenizer();
        var fragments = ids.Select(stream.Next).ToList();
        fragments.Add(stream.Flush());
        foreach (string f in fragments)
            AssertWholeCharacters(f, text, "fragment");
        Assert.AreEqual(text, string.Concat(fragments));
        Assert.IsTrue(fragments.Any(f => f.Length == 0), "some token must end mid-character (else nothing was held back)");
    }

    [TestMethod]
    public void AnUnfinishedCharacterAtTheEndFlushesAsTheDecodeDoes()
    {
        int[] ids = Qwen.Encode("ok 🤗", addSpecialTokens: false)[..^1]; // drop the token that completes the emoji
        var stream = Qwen.CreateStreamingDetokenizer();
        string streamed = string.Concat(ids.Select(stream.Next));
        Assert.AreEqual("ok ", streamed);
        string flushed = stream.Flush();
        Assert.AreEqual("\uFFFD", flushed);
        Assert.AreEqual(Qwen.Decode(ids, skipSpecialTokens: false), streamed + flushed);
        // After a flush the detokenizer starts a new stream.
        Assert.AreEqual("ok", string.Concat(Qwen.Encode("ok", addSpecialTokens: false).Select(stream.Next)));
    }

    [TestMethod]
    public void SpecialTokensAreSkippedWhenAsked()
    {
        int[] ids = Qwen.Encode("<|im_start|>assistant\n你好<|im_end|>", addSpecialTokens: false);
        var stream = Qwen.CreateStreamingDetokenizer(skipSpecialTokens: true);
        string text = string.Concat(ids.Select(stream.Next)) + stream.Flush();
        Assert.AreEqual("assistant\n你好", text);
        Assert.AreEqual(Qwen.Decode(ids, skipSpecialTokens: true), text);
    }

    [TestMethod]
    public void NextCharsReusesItsBufferAndAllocatesNothingPerToken()
    {
        int[] ids = Qwen.Encode("Streaming text, token by token: 東京 🤗 and more words to warm up the buffer.", addSpecialTokens: false);
        var stream = Qwen.CreateStreamingDetokenizer();
        foreach (int id in ids) // warm up (buffer growth, JIT)
            stream.NextChars(id);
        stream.Flush();
        long before = GC.GetAllocatedBytesForCurrentThread();
        int chars = 0;
        foreach (int id in ids)
            chars += stream.NextChars(id).Length;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.IsGreaterThan(0, chars);
        Assert.AreEqual(0L, allocated, "NextChars must not allocate per token");
    }

    private static int CountTokensEndingMidCharacter(int[] ids)
    {
        int count = 0;
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            bytes.AddRange(Qwen.Bytes.BytesOf(id, skipSpecialTokens: false).ToArray());
            if (!IsCompleteUtf8(bytes))
                count++;
        }
        return count;
    }

    /// <summary>Whether the bytes so far end on a character boundary (ignoring invalid bytes earlier on).</summary>
    private static bool IsCompleteUtf8(List<byte> bytes)
    {
        // Look at the last up-to-3 bytes for a lead byte whose sequence is not finished.
        for (int back = 1; back <= Math.Min(3, bytes.Count); back++)
        {
            byte b = bytes[^back];
            if ((b & 0xC0) == 0x80)
                continue; // continuation byte: keep looking for the lead
            int needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return needed <= back;
        }
        return true;
    }

    /// <summary>No lone surrogate at either end, and no U+FFFD unless the full text has one.</summary>
    private static void AssertWholeCharacters(string fragment, string fullText, string where)
    {
        if (fragment.Length == 0)
            return;
        Assert.IsFalse(char.IsLowSurrogate(fragment[0]), $"{where}: fragment starts with half a surrogate pair");
        Assert.IsFalse(char.IsHighSurrogate(fragment[^1]), $"{where}: fragment ends with half a surrogate pair");
        if (!fullText.Contains('\uFFFD'))
            Assert.IsFalse(fragment.Contains('\uFFFD'), $"{where}: fragment has a replacement character");
    }
}
