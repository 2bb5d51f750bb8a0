using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Tests.Sampling;

[TestCategory(Category.Unit)]
[TestClass]
public sealed class SamplingOptionsTests
{
    [TestMethod]
    public void DefaultsAreGreedyWithNothingElseOn()
    {
        var options = new SamplingOptions();
        options.Validate();
        Assert.IsTrue(options.IsGreedy);
        Assert.IsFalse(options.HasPenalties);
        Assert.AreEqual(0f, options.Temperature);
        Assert.AreEqual(0, options.TopK);
        Assert.AreEqual(1f, options.TopP);
        Assert.AreEqual(0f, options.MinP);
        Assert.AreEqual(1f, options.RepetitionPenalty);
        Assert.AreEqual(0f, options.PresencePenalty);
        Assert.AreEqual(0f, options.FrequencyPenalty);
        Assert.IsNull(options.Seed);
        Assert.AreEqual(options, SamplingOptions.Greedy);
    }

    public static IEnumerable<object[]> BadOptions =>
    [
        ["Temperature", new SamplingOptions { Temperature = -0.5f }, "-0.5", ">= 0"],
        ["Temperature", new SamplingOptions { Temperature = float.NaN }, "NaN", ">= 0"],
        ["Temperature", new SamplingOptions { Temperature = float.PositiveInfinity }, "Infinity", ">= 0"],
        ["TopK", new SamplingOptions { TopK = -1 }, "-1", ">= 0"],
        ["TopP", new SamplingOptions { TopP = 0f }, "0", "(0, 1]"],
        ["TopP", new SamplingOptions { TopP = -0.25f }, "-0.25", "(0, 1]"],
        ["TopP", new SamplingOptions { TopP = 1.5f }, "1.5", "(0, 1]"],
        ["TopP", new SamplingOptions { TopP = float.NaN }, "NaN", "(0, 1]"],
        ["MinP", new SamplingOptions { MinP = -0.1f }, "-0.1", "[0, 1)"],
        ["MinP", new SamplingOptions { MinP = 1f }, "1", "[0, 1)"],
        ["RepetitionPenalty", new SamplingOptions { RepetitionPenalty = 0f }, "0", "> 0"],
        ["RepetitionPenalty", new SamplingOptions { RepetitionPenalty = -1.2f }, "-1.2", "> 0"],
        ["RepetitionPenalty", new SamplingOptions { RepetitionPenalty = float.PositiveInfinity }, "Infinity", "> 0"],
        ["PresencePenalty", new SamplingOptions { PresencePenalty = 2.5f }, "2.5", "[-2, 2]"],
        ["PresencePenalty", new SamplingOptions { PresencePenalty = float.NaN }, "NaN", "[-2, 2]"],
        ["FrequencyPenalty", new SamplingOptions { FrequencyPenalty = -3f }, "-3", "[-2, 2]"],
    ];

    [TestMethod]
    [DynamicData(nameof(BadOptions))]
    public void ValidateNamesTheOptionItsValueAndTheRange(string option, SamplingOptions options, string value, string range)
    {
        var e = Assert.ThrowsExactly<ArgumentException>(options.Validate);
        Assert.AreEqual(option, e.ParamName);
        Assert.Contains($"{option} = {value} ", e.Message);
        Assert.Contains(range, e.Message);
        // The sampler refuses the same options.
        Assert.ThrowsExactly<ArgumentException>(() => new TokenSampler(options, 16));
    }

    [TestMethod]
    public void BoundaryValuesAreAccepted()
    {
        SamplingOptions[] good =
        [
            new() { Temperature = 0f }, new() { Temperature = 1e-6f }, new() { Temperature = 100f },
            new() { TopK = 0 }, new() { TopK = int.MaxValue },
            new() { TopP = 1f }, new() { TopP = 1e-6f },
            new() { MinP = 0f }, new() { MinP = 0.999f },
            new() { RepetitionPenalty = 1e-3f }, new() { RepetitionPenalty = 10f },
            new() { PresencePenalty = -2f, FrequencyPenalty = 2f }, new() { PresencePenalty = 2f, FrequencyPenalty = -2f },
            new() { Seed = long.MinValue }, new() { Seed = long.MaxValue },
        ];
        foreach (var options in good)
            options.Validate();
    }

    [TestMethod]
    public void SamplerRejectsBadVocabularySize()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TokenSampler(SamplingOptions.Greedy, 0));
    }

    [TestMethod]
    public void GenerationConfigMapsToOptions()
    {
        var sampling = SamplingOptions.FromGenerationConfig(
            new GenerationConfig { DoSample = true, Temperature = 0.6, TopK = 20, TopP = 0.95, RepetitionPenalty = 1.1 }, seed: 7);
        Assert.AreEqual(new SamplingOptions
        {
            Temperature = 0.6f, TopK = 20, TopP = 0.95f, RepetitionPenalty = 1.1f, Seed = 7,
        }, sampling);

        var greedy = SamplingOptions.FromGenerationConfig(
            new GenerationConfig { DoSample = false, Temperature = 0.6, TopK = 20, RepetitionPenalty = 1.3 });
        Assert.IsTrue(greedy.IsGreedy);
        Assert.AreEqual(0, greedy.TopK);
        Assert.AreEqual(1.3f, greedy.RepetitionPenalty);

        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            SamplingOptions.FromGenerationConfig(new GenerationConfig { DoSample = true, TopP = 1.2 }));
        Assert.AreEqual("TopP", e.ParamName);
    }
}
