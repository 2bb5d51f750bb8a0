using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tests.Families;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// A LongRoPE model served over HTTP past its switch length gives the tokens of transformers' semantics (the cache
/// dropped and the sequence recomputed at the crossing) and of the library's own loop — the server and
/// <c>owonnx run</c> drive one per-sequence core. Two requests run together, switching at different steps, so the
/// recompute of one slot must leave the other alone. The tiny Phi-3 of <see cref="LongRopeTests"/> gets a tokenizer
/// of 96 one-character tokens, so each token comes back as one character of the response text.
/// </summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class LongRopeServingTests
{
    private const int Generated = 12;

    [TestMethod]
    public async Task ServedTokensCrossTheSwitchAsTheLibraryAndTransformersDo()
    {
        var (checkpoint, _, converted) = LongRopeTests.Models["full"].Value;
        string folder = WithTokenizer(converted);
        var tokenizer = TextTokenizer.FromFolder(folder);
        var idOf = Enumerable.Range(0, 96).ToDictionary(id => Single(tokenizer.Decode([id], skipSpecialTokens: true)), id => id);

        int[][] prompts = [Prompt(12, 7), Prompt(9, 11)];   // cross 16 at generated token 5 and 8
        var expected = prompts.Select(p => LongRopeTests.ReferenceGreedy(checkpoint, p.Select(t => (long)t).ToArray(), p.Length + Generated)
            .Ids[p.Length..].Select(t => (int)t).ToArray()).ToArray();

        using (var model = LanguageModel.Load(folder))
        using (var decoder = model.CreateDecoder(1))
        {
            var stream = new TokenStream(decoder, []);
            foreach (var (prompt, reference) in prompts.Zip(expected))
            {
                stream.Start(prompt, new GenerationOptions { MaxNewTokens = Generated, StopAtEos = false });
                var library = new List<int>();
                while (stream.MoveNext()) library.Add(stream.Current);
                CollectionAssert.AreEqual(reference, library, "library loop vs transformers' semantics");
            }
        }

        await using var server = await TestServer.StartAsync(o => o with { ModelDirectory = folder, ModelName = "longrope", MaxBatch = 2 });
        var responses = await Task.WhenAll(prompts.Select(p => server.PostAsync("/v1/completions", JsonSerializer.Serialize(new
        {
            model = "longrope", prompt = p, max_tokens = Generated, temperature = 0, ignore_eos = true,
        }))));
        for (int i = 0; i < prompts.Length; i++)
        {
            var (status, body) = responses[i];
            Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
            string text = body.GetProperty("choices")[0].GetProperty("text").GetString()!;
            var served = text.Select(c => idOf[c]).ToArray();
            CollectionAssert.AreEqual(expected[i], served, $"prompt {i}: served tokens across the LongRoPE switch");
        }
    }

    private static int[] Prompt(int length, int seed) =>
        new TinyCheckpoint(new JsonObject(), seed).Tokens(length, 96).Select(t => (int)t).ToArray();

    private static char Single(string text)
    {
        Assert.AreEqual(1, text.Length, $"each token decodes to one character: '{text}'");
        return text[0];
    }

    /// <summary>A copy of the converted folder with a byte-level tokenizer of 96 single-byte tokens and no merges.</summary>
    private static string WithTokenizer(string converted)
    {
        string folder = Path.Combine(TestFixtures.Scratch("longrope-served"), "longrope");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(converted))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        // Byte-level BPE spells bytes 33..126 as themselves, space as 'Ġ' and newline as 'Ċ'.
        var vocab = new JsonObject();
        for (int id = 0; id < 94; id++) vocab[((char)(33 + id)).ToString()] = id;
        vocab["\u0120"] = 94;
        vocab["\u010A"] = 95;
        var byteLevel = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true };
        var json = new JsonObject
        {
            ["version"] = "1.0", ["added_tokens"] = new JsonArray(), ["normalizer"] = null,
            ["pre_tokenizer"] = byteLevel.DeepClone(), ["post_processor"] = null, ["decoder"] = byteLevel.DeepClone(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = new JsonArray(),
            },
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), json.ToJsonString());
        return folder;
    }
}
