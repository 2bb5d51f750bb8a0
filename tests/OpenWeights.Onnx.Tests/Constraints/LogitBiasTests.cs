using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Constraints;

/// <summary>
/// OpenAI's logit_bias on the sample model: +100 forces a token, −100 bans transformers' greedy choice, greedy and
/// sampled alike; ids outside the vocabulary are refused by name.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class LogitBiasTests
{
    [TestMethod]
    public void PlusHundredForcesAndMinusHundredBans()
    {
        string dir = FortuneReference.ConvertedFp32;
        using var model = LanguageModel.Load(dir);
        var tokenizer = TextTokenizer.FromFolder(dir);
        using var generator = new TextGenerator(model, tokenizer);
        var reference = FortuneReference.Greedy()[0];
        int greedyFirst = reference.GenerateApiIds[0];
        int forced = tokenizer.Encode(" fortune", addSpecialTokens: false)[0];
        Assert.AreNotEqual(greedyFirst, forced);

        foreach (var sampling in new[] { SamplingOptions.Greedy, new SamplingOptions { Temperature = 1.5f, Seed = 11 } })
        {
            var force = generator.Generate(reference.Prompt, new GenerationOptions
            {
                MaxNewTokens = 6, Sampling = sampling with { LogitBias = new Dictionary<int, float> { [forced] = 100f } },
            });
            CollectionAssert.AreEqual(Enumerable.Repeat(forced, 6).ToArray(), force.TokenIds.ToArray(), $"forced, temperature {sampling.Temperature}");

            var ban = generator.Generate(reference.Prompt, new GenerationOptions
            {
                MaxNewTokens = 20, Sampling = sampling with { LogitBias = new Dictionary<int, float> { [greedyFirst] = -100f } },
            });
            CollectionAssert.DoesNotContain(ban.TokenIds.ToArray(), greedyFirst, $"banned, temperature {sampling.Temperature}");
        }

        var unbiased = generator.Generate(reference.Prompt, new GenerationOptions { MaxNewTokens = 1 });
        Assert.AreEqual(greedyFirst, unbiased.TokenIds[0], "without bias the greedy choice is transformers'");
    }

    [TestMethod]
    public void BiasOutsideTheVocabularyIsRefused()
    {
        var options = new SamplingOptions { LogitBias = new Dictionary<int, float> { [5000] = 1f } };
        var e = Assert.Throws<ArgumentException>(() => new TokenSampler(options, 2048));
        StringAssert.Contains(e.Message, "5000");
        StringAssert.Contains(e.Message, "2047");
        Assert.Throws<ArgumentException>(() => new SamplingOptions { LogitBias = new Dictionary<int, float> { [1] = 101f } }.Validate());
        Assert.Throws<ArgumentException>(() => new SamplingOptions { LogitBias = new Dictionary<int, float> { [-1] = 1f } }.Validate());
    }
}
