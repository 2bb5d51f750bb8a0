using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntimeGenAI;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Inspection;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Families;

/// <summary>
/// Phi-3's LongRoPE, which no shared fixture exercises, against <see cref="ReferenceDecoder"/> (transformers
/// 4.46 semantics): short factors while the sequence fits original_max_position_embeddings (16 here), long
/// factors for every position once it does not, and at the crossing transformers drops the cache and
/// recomputes the whole sequence with the long factors. Three tiny models: full rotary, partial rotary
/// (factor 0.5, as Phi-4-mini), and a sliding window of 7 (shorter than every test sequence).
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class LongRopeTests
{
    private const float Fp32Tolerance = 1e-4f;
    internal const int Original = 16;
    internal static readonly Dictionary<string, Lazy<(TinyCheckpoint Checkpoint, string Directory, string Converted)>> Models = new()
    {
        ["full"] = new(() => Build("full", heads: 4, kvHeads: 2, partial: 1.0, window: null, seed: 31)),
        ["partial"] = new(() => Build("partial", heads: 2, kvHeads: 1, partial: 0.5, window: null, seed: 37)),
        ["window"] = new(() => Build("window", heads: 4, kvHeads: 2, partial: 1.0, window: 7, seed: 41)),
    };

    private static (TinyCheckpoint, string, string) Build(string name, int heads, int kvHeads, double partial, int? window, int seed)
    {
        const int hidden = 64, inter = 96, vocab = 96, layers = 2;
        int headDim = hidden / heads, half = (int)(headDim * partial) / 2;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("Phi3ForCausalLM"),
            ["model_type"] = "phi3",
            ["hidden_size"] = hidden, ["intermediate_size"] = inter, ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = heads, ["num_key_value_heads"] = kvHeads, ["vocab_size"] = vocab,
            ["max_position_embeddings"] = 64, ["original_max_position_embeddings"] = Original,
            ["rms_norm_eps"] = 1e-5, ["rope_theta"] = 10000.0, ["hidden_act"] = "silu",
            ["partial_rotary_factor"] = partial, ["sliding_window"] = window,
            ["tie_word_embeddings"] = false, ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["pad_token_id"] = 0,
            ["torch_dtype"] = "float32",
        };
        var c = new TinyCheckpoint(config, seed);
        config["rope_scaling"] = new JsonObject
        {
            ["type"] = "longrope",
            ["short_factor"] = new JsonArray(c.Floats(half, 1.0f, 1.5f).Select(f => (JsonNode)(double)f).ToArray()),
            ["long_factor"] = new JsonArray(c.Floats(half, 2.0f, 8.0f).Select(f => (JsonNode)(double)f).ToArray()),
        };
        c.Normal("model.embed_tokens.weight", 0.15f, vocab, hidden);
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}";
            c.Uniform($"{p}.input_layernorm.weight", 0.5f, 1.5f, hidden);
            c.Normal($"{p}.self_attn.qkv_proj.weight", 0.15f, (heads + 2 * kvHeads) * headDim, hidden);
            c.Normal($"{p}.self_attn.o_proj.weight", 0.15f, hidden, heads * headDim);
            c.Uniform($"{p}.post_attention_layernorm.weight", 0.5f, 1.5f, hidden);
            c.Normal($"{p}.mlp.gate_up_proj.weight", 0.15f, 2 * inter, hidden);
            c.Normal($"{p}.mlp.down_proj.weight", 0.15f, hidden, inter);
        }
        c.Uniform("model.norm.weight", 0.5f, 1.5f, hidden);
        c.Normal("lm_head.weight", 0.15f, vocab, hidden);
        string directory = c.Write("phi3-longrope-" + name);
        return (c, directory, ConvertedFixtures.Get(directory));
    }

    /// <summary>What transformers' generate() produces: each step's logits equal a full forward over the sequence so far.</summary>
    internal static (long[] Ids, List<float[]> Steps) ReferenceGreedy(TinyCheckpoint c, long[] prompt, int totalLength) =>
        ReferenceDecoder.Greedy(ids => ReferenceDecoder.Phi3(c, ids), prompt, totalLength, c.Int("vocab_size"));

    /// <summary>
    /// Runs the converted graph token by token. With <paramref name="recomputeAtSwitch"/>, it does what a runtime
    /// must do to match transformers: when the total length first exceeds the original length, drop the cache
    /// and re-run the whole sequence (the graph then takes the long tables for every position).
    /// </summary>
    private static List<float[]> Decode(string model, long[] ids, int promptLength, bool recomputeAtSwitch, int switchLength)
    {
        using var session = new OrtDecoderSession(model);
        int vocab = session.Vocab;
        var steps = new List<float[]>();
        var logits = session.Forward(ids[..promptLength]);
        steps.Add(logits.AsSpan(logits.Length - vocab).ToArray());
        for (int length = promptLength + 1; length <= ids.Length; length++)
        {
            if (recomputeAtSwitch && session.Length <= switchLength && length > switchLength)
            {
                session.Reset();
                logits = session.Forward(ids[..length]);
                steps.Add(logits.AsSpan(logits.Length - vocab).ToArray());
            }
            else
            {
                steps.Add(session.Forward([ids[length - 1]]));
            }
        }
        return steps;
    }

    private static float CompareSteps(string what, List<float[]> actual, List<float[]> expected, long[] ids, int promptLength)
    {
        Assert.HasCount(expected.Count, actual);
        float worst = 0;
        for (int i = 0; i < expected.Count; i++)
        {
            float diff = Logits.MaxAbsDiff(actual[i], expected[i]);
            worst = Math.Max(worst, diff);
            Assert.IsLessThanOrEqualTo(Fp32Tolerance, diff, $"{what}: step {i} (length {promptLength + i}) differs by {diff}");
            if (promptLength + i < ids.Length)
                Assert.AreEqual(ids[promptLength + i], Logits.ArgMax(actual[i]), $"{what}: greedy id at step {i}");
        }
        Console.WriteLine($"{what}: max |Δlogit| = {worst:E2} over {expected.Count} steps");
        return worst;
    }

    [TestMethod]
    [DataRow("full")]
    [DataRow("partial")]
    [DataRow("window")]
    public void WithinTheOriginalLengthShortFactorsApply(string variant)
    {
        var (c, _, model) = Models[variant].Value;
        var prompt = new TinyCheckpoint(new JsonObject(), 5).Tokens(10, c.Int("vocab_size"));
        var (ids, expected) = ReferenceGreedy(c, prompt, Original);

        using (var session = new OrtDecoderSession(model))
        {
            float diff = Logits.MaxAbsDiff(session.Forward(prompt), ReferenceDecoder.Phi3(c, prompt));
            Assert.IsLessThanOrEqualTo(Fp32Tolerance, diff, $"{variant}: prompt logits differ by {diff}");
        }
        CompareSteps($"{variant} short", Decode(model, ids, prompt.Length, true, Original), expected, ids, prompt.Length);
    }

    [TestMethod]
    [DataRow("full")]
    [DataRow("partial")]
    [DataRow("window")]
    public void BeyondTheOriginalLengthLongFactorsApplyToEveryPosition(string variant)
    {
        var (c, _, model) = Models[variant].Value;
        var prompt = new TinyCheckpoint(new JsonObject(), 6).Tokens(24, c.Int("vocab_size"));
        var (ids, expected) = ReferenceGreedy(c, prompt, 30);

        using (var session = new OrtDecoderSession(model))
        {
            float diff = Logits.MaxAbsDiff(session.Forward(prompt), ReferenceDecoder.Phi3(c, prompt));
            Assert.IsLessThanOrEqualTo(Fp32Tolerance, diff, $"{variant}: long prompt logits differ by {diff}");
        }
        CompareSteps($"{variant} long", Decode(model, ids, prompt.Length, true, Original), expected, ids, prompt.Length);
    }

    [TestMethod]
    [DataRow("full")]
    [DataRow("partial")]
    [DataRow("window")]
    public void CrossingTheOriginalLengthMatchesTransformersWhenTheRuntimeRecomputes(string variant)
    {
        var (c, _, model) = Models[variant].Value;
        var prompt = new TinyCheckpoint(new JsonObject(), 7).Tokens(12, c.Int("vocab_size"));
        var (ids, expected) = ReferenceGreedy(c, prompt, 22);
        CompareSteps($"{variant} crossing", Decode(model, ids, prompt.Length, true, Original), expected, ids, prompt.Length);

        // Keeping the cache across the switch (keys rotated with the short factors) is not what transformers
        // computes: this is why the runtime has to recompute.
        var naive = Decode(model, ids, prompt.Length, false, Original);
        int firstLong = Original + 1 - prompt.Length;
        for (int i = 0; i < firstLong; i++)
            Assert.IsLessThanOrEqualTo(Fp32Tolerance, Logits.MaxAbsDiff(naive[i], expected[i]));
        float stale = Logits.MaxAbsDiff(naive[firstLong], expected[firstLong]);
        Console.WriteLine($"{variant}: without recomputation the first long step differs by {stale:E2}");
        Assert.IsGreaterThan(1e-2f, stale, "the short/long switch should visibly change the logits");
    }

    [TestMethod]
    [DataRow("full")]
    [DataRow("window")]
    public void OurTokenStreamRecomputesAtTheSwitchAndFollowsTransformers(string variant)
    {
        var (c, _, model) = Models[variant].Value;
        var prompt = new TinyCheckpoint(new JsonObject(), 7).Tokens(12, c.Int("vocab_size"));
        var (ids, _) = ReferenceGreedy(c, prompt, 22);

        using var lm = LanguageModel.Load(model);
        Assert.AreEqual(Original, lm.Config.RopeSwitchLength);
        using var decoder = lm.CreateDecoder(1);
        var stream = new OpenWeights.Onnx.Generation.TokenStream(decoder, []);
        stream.Start(prompt.Select(t => (int)t).ToArray(),
            new OpenWeights.Onnx.Generation.GenerationOptions { MaxNewTokens = ids.Length - prompt.Length, StopAtEos = false });
        var produced = new List<long>();
        while (stream.MoveNext())
            produced.Add(stream.Current);
        CollectionAssert.AreEqual(ids[prompt.Length..], produced.ToArray(), $"{variant}: greedy ids across the switch");
    }

    [TestMethod]
    public void Fp16SelectsTheSameTables()
    {
        var (c, directory, _) = Models["full"].Value;
        string fp16 = ConvertedFixtures.Get(directory, Precision.Fp16);
        foreach (int length in new[] { 10, 24 })
        {
            var prompt = new TinyCheckpoint(new JsonObject(), 8).Tokens(length, c.Int("vocab_size"));
            using var session = new OrtDecoderSession(fp16);
            float diff = Logits.MaxAbsDiff(session.Forward(prompt), ReferenceDecoder.Phi3(c, prompt));
            Console.WriteLine($"fp16, {length} tokens: max |Δlogit| = {diff:E2}");
            Assert.IsLessThanOrEqualTo(2e-2f, diff, $"fp16 logits at {length} tokens differ by {diff}");
        }
    }

    [TestMethod]
    public void ConvertedModelRecordsTheSwitchLengthAndBothTablePairs()
    {
        var (_, _, model) = Models["full"].Value;
        var summary = OnnxModelSummary.Read(model);
        Assert.AreEqual(Original.ToString(), summary.Metadata["owonnx.rope_switch_length"]);
        Assert.AreEqual(1, summary.OperatorCounts["If"]);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "genai_config.json")))!;
        Assert.AreEqual("phi3", config["model"]!["type"]!.GetValue<string>());
    }

    [TestMethod]
    public void GenAiMatchesTransformersUnlessTheSequenceCrossesTheSwitch()
    {
        var (c, _, model) = Models["full"].Value;
        int vocab = c.Int("vocab_size");
        int[] Generate(long[] prompt, int total)
        {
            using var m = new Model(model);
            using var parameters = new GeneratorParams(m);
            parameters.SetSearchOption("max_length", total);
            parameters.SetSearchOption("do_sample", false);
            using var generator = new Generator(m, parameters);
            generator.AppendTokens(prompt.Select(x => (int)x).ToArray());
            while (!generator.IsDone())
                generator.GenerateNextToken();
            return generator.GetSequence(0).ToArray();
        }

        var shortPrompt = new TinyCheckpoint(new JsonObject(), 5).Tokens(10, vocab);
        CollectionAssert.AreEqual(ReferenceGreedy(c, shortPrompt, Original).Ids.Select(x => (int)x).ToArray(), Generate(shortPrompt, Original));
        var longPrompt = new TinyCheckpoint(new JsonObject(), 6).Tokens(24, vocab);
        CollectionAssert.AreEqual(ReferenceGreedy(c, longPrompt, 30).Ids.Select(x => (int)x).ToArray(), Generate(longPrompt, 30));

        // onnxruntime-genai does not recompute at the crossing: it continues the cache like the naive loop.
        var crossPrompt = new TinyCheckpoint(new JsonObject(), 7).Tokens(12, vocab);
        var genai = Generate(crossPrompt, 22);
        var naiveIds = crossPrompt.ToList();
        using (var session = new OrtDecoderSession(model))
        {
            var logits = session.Forward(crossPrompt);
            var step = logits.AsSpan(logits.Length - vocab).ToArray();
            while (naiveIds.Count < 22)
            {
                naiveIds.Add(Logits.ArgMax(step));
                if (naiveIds.Count < 22) step = session.Forward([naiveIds[^1]]);
            }
        }
        CollectionAssert.AreEqual(naiveIds.Select(x => (int)x).ToArray(), genai, "genai keeps the short-factor cache across the switch");
        var hf = ReferenceGreedy(c, crossPrompt, 22).Ids.Select(x => (int)x).ToArray();
        Console.WriteLine($"crossing: transformers [{string.Join(",", hf[12..])}], genai [{string.Join(",", genai[12..])}]");
    }

    [TestMethod]
    [DataRow("{\"type\": \"dynamic\", \"factor\": 2.0}", "dynamic")]
    [DataRow("{\"rope_type\": \"linear\", \"factor\": 2.0}", "linear")]
    public void UnsupportedRopeTypeForPhi3IsRefused(string scaling, string type)
    {
        var e = Assert.ThrowsExactly<CheckpointException>(() => ConvertPhi3With(scaling));
        StringAssert.Contains(e.Message, "rope_scaling");
        StringAssert.Contains(e.Message, $"'{type}'");
        StringAssert.Contains(e.Message, "Phi3ForCausalLM");
        StringAssert.Contains(e.Message, "longrope");
    }

    [TestMethod]
    public void LongRopeFactorsOfTheWrongLengthAreRefused()
    {
        var e = Assert.ThrowsExactly<CheckpointException>(() =>
            ConvertPhi3With("{\"type\": \"su\", \"short_factor\": [1.0, 1.0], \"long_factor\": [2.0, 2.0]}"));
        StringAssert.Contains(e.Message, "short_factor");
        StringAssert.Contains(e.Message, "8");
    }

    private static void ConvertPhi3With(string ropeScaling)
    {
        string dir = TestFixtures.Scratch("phi3-rope");
        foreach (var f in Directory.GetFiles(TestFixtures.Hf("phi3")))
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        string config = Path.Combine(dir, "config.json");
        File.SetAttributes(config, FileAttributes.Normal);
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"rope_scaling\": null", $"\"rope_scaling\": {ropeScaling}"));
        new ModelConverter(KnownFamilies.All).Convert(dir, Path.Combine(TestFixtures.Scratch("out"), "model"), new ConversionOptions());
    }
}
