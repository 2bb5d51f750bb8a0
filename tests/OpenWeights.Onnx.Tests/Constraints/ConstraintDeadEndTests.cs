using System.Text.Json.Nodes;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Server.Scheduling;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Constraints;

/// <summary>
/// A constraint that no token can continue (the grammar needs a byte the vocabulary cannot spell) fails only its own
/// sequence, with a message naming the text so far and the byte: in a batch, the other request decodes on to a valid
/// document; in the library, the stream throws <see cref="ConstraintDeadEndException"/>. The sample's own vocabulary
/// spells every byte, so the tests pair the sample model with a derived tokenizer that keeps only its one-byte ASCII
/// tokens (same ids): "é" (0xC3 0xA9) cannot be written.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class ConstraintDeadEndTests
{
    private const string Cafe = """{"const": "café"}""";
    private const string ThreeFlags = """{"type":"array","items":{"type":"boolean"},"minItems":3,"maxItems":3}""";

    /// <summary>The sample's tokenizer with only its single-byte ASCII tokens (printable, space, newline) and no merges.</summary>
    private static TextTokenizer AsciiTokenizer()
    {
        string source = TestFixtures.FortuneLlama;
        string dir = TestFixtures.Scratch("ascii-tokenizer");
        foreach (string name in new[] { "tokenizer_config.json", "generation_config.json", "special_tokens_map.json" })
            File.Copy(Path.Combine(source, name), Path.Combine(dir, name));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "tokenizer.json")))!.AsObject();
        var model = json["model"]!.AsObject();
        var kept = new JsonObject();
        foreach (var (token, id) in model["vocab"]!.AsObject())
            // Byte-level BPE spells bytes '!'..'~' as themselves, space as 'Ġ' and newline as 'Ċ'.
            if (token.Length == 1 && (token[0] is >= '!' and <= '~' or 'Ġ' or 'Ċ'))
                kept[token] = id!.GetValue<int>();
        model["vocab"] = kept;
        model["merges"] = new JsonArray();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        return TextTokenizer.FromFolder(dir);
    }

    [TestMethod]
    public async Task ADeadEndFailsOnlyItsRequestAndTheBatchGoesOn()
    {
        string dir = FortuneReference.ConvertedFp32;
        using var model = LanguageModel.Load(dir);
        var tokenizer = AsciiTokenizer();
        int[] prompt = TextTokenizer.FromFolder(dir).Encode("A fool and his money", addSpecialTokens: true);
        var eos = model.Config.EosTokenIds.Union(tokenizer.EosTokenIds).ToArray();
        using var scheduler = new Scheduler(model.CreateDecoder(2), tokenizer, eos, maxQueue: 4);
        var work = new System.Collections.Concurrent.ConcurrentQueue<SchedulerWork>();
        scheduler.Observer = work.Enqueue;
        scheduler.Start();

        GenerationOptions Options(string schema, int seed) => new()
        {
            MaxNewTokens = 64,
            Constraint = OutputConstraint.JsonSchema(schema),
            Sampling = new SamplingOptions { Temperature = 1f, Seed = seed },
        };
        var healthy = scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = Options(ThreeFlags, 1) });
        var doomed = scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = Options(Cafe, 2) });

        var (doomedText, doomedEnd) = await ReadAsync(doomed);
        var (healthyText, healthyEnd) = await ReadAsync(healthy);

        var failed = doomedEnd as SequenceFailed ?? throw new AssertFailedException($"the dead end was not a failure: {doomedEnd}");
        Assert.AreEqual(SequenceFailure.Constraint, failed.Failure);
        Assert.AreEqual("\"caf", doomedText, "the text before the dead end was streamed");
        StringAssert.Contains(failed.Message, "after \"\\\"caf\"", failed.Message);
        StringAssert.Contains(failed.Message, "a fixed text", failed.Message);
        StringAssert.Contains(failed.Message, "0xC3", failed.Message);

        var finished = healthyEnd as SequenceFinished ?? throw new AssertFailedException($"the other request did not finish: {healthyEnd}");
        Assert.AreEqual(FinishReason.Stop, finished.Reason, healthyText);
        Assert.IsNull(SchemaValidation.Problem(ThreeFlags, healthyText), healthyText);
        // They shared decode steps, and the healthy one went on decoding alone after the other failed.
        var steps = work.Where(w => w.Kind == SchedulerWorkKind.Step).ToList();
        Assert.IsTrue(steps.Any(w => w.Count == 2), "the two requests decoded in one batch");
        Assert.AreEqual(1, steps[^1].Count, "the healthy request's last steps ran alone");
        Assert.AreEqual(0, scheduler.InFlight);
    }

    [TestMethod]
    public void TheLibraryThrowsNamingTheTextAndTheByte()
    {
        string dir = FortuneReference.ConvertedFp32;
        using var model = LanguageModel.Load(dir);
        using var generator = new TextGenerator(model, AsciiTokenizer());
        int[] prompt = TextTokenizer.FromFolder(dir).Encode("You will", addSpecialTokens: true);
        var e = Assert.ThrowsExactly<ConstraintDeadEndException>(() => generator.Generate(prompt, new GenerationOptions
        {
            MaxNewTokens = 32,
            Constraint = OutputConstraint.JsonSchema("""{"type":"object","properties":{"drink":{"const":"café"}},"required":["drink"],"additionalProperties":false}"""),
            Sampling = new SamplingOptions { Temperature = 1f, Seed = 4 },
        }));
        Assert.AreEqual("{\"drink\": \"caf", e.TextSoFar.Replace("\":\"", "\": \""));
        CollectionAssert.AreEqual(new byte[] { 0xC3 }, e.AllowedBytes.ToArray());
        StringAssert.Contains(e.Message, "0xC3");
    }

    private static async Task<(string Text, SequenceEvent End)> ReadAsync(SequenceHandle handle)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var text = new System.Text.StringBuilder();
        await foreach (var e in handle.Events.ReadAllAsync(timeout.Token))
            switch (e)
            {
                case TokenGenerated t:
                    text.Append(t.Text);
                    break;
                default:
                    return (text.ToString(), e);
            }
        throw new AssertFailedException("the event stream ended without a finish or failure");
    }
}
