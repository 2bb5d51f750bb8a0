using System.Text.Json;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Constraints;

/// <summary>
/// Constrained generation on the trained sample model (a fortune-cookie model that never saw JSON): 200 generations
/// with random sampling, every one parsed by System.Text.Json and validated by JsonSchema.Net. The schemas bound their
/// documents' length in bytes (enums, numbers of bounded digits, bounded arrays, no free strings) and every token has
/// at least one byte, so a budget of that many tokens guarantees completion: each must finish with stop.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class ConstrainedGenerationTests
{
    private const int Budget = 128; // bytes of the longest document any schema below allows, and more

    internal static readonly string[] Schemas =
    [
        """{"type":"object","properties":{"mood":{"enum":["happy","sad","wise"]},"lucky":{"type":"integer"},"ok":{"type":"boolean"}},"required":["mood","lucky"],"additionalProperties":false}""",
        """{"type":"array","items":{"type":["boolean","null"]},"minItems":1,"maxItems":3}""",
        """{"type":"object","properties":{"answer":{"anyOf":[{"type":"null"},{"type":"integer"},{"type":"array","items":{"enum":["yes","no"]},"maxItems":2}]},"meta":{"type":"object","properties":{"v":{"const":2}},"required":["v"],"additionalProperties":false}},"required":["answer","meta"],"additionalProperties":false}""",
        """{"$defs":{"flag":{"type":["boolean","null"]}},"type":"object","properties":{"a":{"$ref":"#/$defs/flag"},"b":{"$ref":"#/$defs/flag"},"x":{"type":"number"}},"required":["a","b"],"additionalProperties":false}""",
    ];

    [TestMethod]
    public void TwoHundredSampledGenerationsAreValid()
    {
        string dir = FortuneReference.ConvertedFp32;
        using var model = LanguageModel.Load(dir);
        using var generator = new TextGenerator(model, TextTokenizer.FromFolder(dir));
        var constraints = Schemas.Select(OutputConstraint.JsonSchema).ToArray();
        string[] prompts = ["A fool and his money", "Tell me a fortune.", "You will"];
        var failures = new List<string>();
        for (int i = 0; i < 200; i++)
        {
            int s = i % Schemas.Length;
            var options = new GenerationOptions
            {
                MaxNewTokens = Budget,
                Constraint = constraints[s],
                Sampling = new SamplingOptions { Temperature = i % 2 == 0 ? 1f : 1.5f, Seed = 1000 + i },
            };
            var result = generator.Generate(prompts[i % prompts.Length], options);
            string? problem = result.FinishReason != FinishReason.Stop
                ? $"finished with {result.FinishReason} after {result.TokenIds.Count} tokens"
                : SchemaValidation.Problem(Schemas[s], result.Text);
            if (problem is not null)
                failures.Add($"#{i} schema {s}: {problem}: {result.Text}");
        }
        Assert.IsEmpty(failures, string.Join("\n", failures.Take(5)));
    }

    [TestMethod]
    public void GreedyJsonObjectStopsWhenTheObjectCloses()
    {
        string dir = FortuneReference.ConvertedFp32;
        using var model = LanguageModel.Load(dir);
        using var generator = new TextGenerator(model, TextTokenizer.FromFolder(dir));
        // A free object may run long (strings are free); only a closed one may finish with stop, and then it parses.
        for (int seed = 0; seed < 6; seed++)
        {
            var result = generator.Generate("A fool and his money", new GenerationOptions
            {
                MaxNewTokens = 48,
                Constraint = OutputConstraint.JsonObject(),
                Sampling = seed == 0 ? SamplingOptions.Greedy : new SamplingOptions { Temperature = 1f, Seed = seed },
            });
            StringAssert.StartsWith(result.Text, "{");
            if (result.FinishReason == FinishReason.Stop)
                Assert.AreEqual(JsonValueKind.Object, JsonDocument.Parse(result.Text).RootElement.ValueKind, result.Text);
            else
                Assert.AreEqual(48, result.TokenIds.Count, "only the budget ends an unfinished document");
        }
    }

    [TestMethod]
    public void LiteralWrapperAroundASchemaIsKeptExactly()
    {
        string dir = FortuneReference.ConvertedFp32;
        using var model = LanguageModel.Load(dir);
        using var generator = new TextGenerator(model, TextTokenizer.FromFolder(dir));
        var constraint = OutputConstraint.Sequence(OutputConstraint.Literal("<call>"), OutputConstraint.JsonSchema(Schemas[3]),
            OutputConstraint.Literal("</call>"));
        var result = generator.Generate("You will", new GenerationOptions
        {
            MaxNewTokens = 64, Constraint = constraint, Sampling = new SamplingOptions { Temperature = 1f, Seed = 3 },
        });
        Assert.AreEqual(FinishReason.Stop, result.FinishReason, result.Text);
        StringAssert.StartsWith(result.Text, "<call>");
        StringAssert.EndsWith(result.Text, "</call>");
        Assert.IsNull(SchemaValidation.Problem(Schemas[3], result.Text["<call>".Length..^"</call>".Length]), result.Text);
    }
}
