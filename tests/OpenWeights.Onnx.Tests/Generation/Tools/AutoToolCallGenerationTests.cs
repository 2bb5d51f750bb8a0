using System.Text.Json.Nodes;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Tests.Constraints;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Generation.Tools;

/// <summary>
/// Tool calls sampled from the trained sample model (temperature 1 and 1.3, many seeds), read back by
/// <see cref="ToolCallReader"/> and checked independently: each call names a declared function and its arguments
/// parse (System.Text.Json) and validate against that function's schema (JsonSchema.Net).
/// <list type="bullet">
/// <item>Auto mode (lazy constraint): the fortune model never writes Hermes' <c>&lt;tool_call&gt;</c> by itself, so
/// these answers use a Hermes-shaped format whose marker is the word " the", which it writes all the time. The text
/// stays free, and every marker it writes opens a call that completes (or is cut only by the token budget).</item>
/// <item>Forced with parallel calls: every answer is 1 to <see cref="ToolCallConstraint.MaxParallelCalls"/> calls
/// and ends by itself (never at the token budget).</item>
/// </list>
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class AutoToolCallGenerationTests
{
    private static readonly ToolDefinition[] Tools =
    [
        new("get_forecast", null, (JsonObject)JsonNode.Parse(
            """{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Oslo"]},"days":{"type":"integer","enum":[1,3]},"metric":{"type":"boolean"}},"required":["city","days","metric"],"additionalProperties":false}""")!),
        new("roll", null, (JsonObject)JsonNode.Parse(
            """{"type":"object","properties":{"sides":{"type":"integer"},"twice":{"type":"boolean"}},"required":["sides"],"additionalProperties":false}""")!),
        new("get_time", null, null),
    ];

    private static readonly ToolCallFormat WordMarker = ToolCallFormat.Hermes with { Name = "hermes-the", Marker = " the", Separator = " the" };

    private static string SchemaOf(string name) =>
        Tools.Single(t => t.Name == name).Parameters?.ToJsonString() ?? """{"type":"object","properties":{},"additionalProperties":false}""";

    private static string? Problem(ToolCall call) =>
        Tools.All(t => t.Name != call.Name) ? $"undeclared function '{call.Name}'" : SchemaValidation.Problem(SchemaOf(call.Name), call.Arguments);

    private static int Count(string text, string marker)
    {
        int n = 0;
        for (int i = text.IndexOf(marker, StringComparison.Ordinal); i >= 0; i = text.IndexOf(marker, i + marker.Length, StringComparison.Ordinal))
            n++;
        return n;
    }

    [TestMethod]
    public void EveryCallOpenedInAutoModeParsesAndValidates()
    {
        string dir = FortuneReference.ConvertedFp32;
        using var model = LanguageModel.Load(dir);
        using var generator = new TextGenerator(model, TextTokenizer.FromFolder(dir));
        var constraint = ToolCallConstraint.Auto(WordMarker, Tools, parallelCalls: true);
        string[] prompts = ["A fool and his money", "You will", "Tell me a fortune."];
        var failures = new List<string>();
        int calls = 0, withText = 0;
        for (int i = 0; i < 48; i++)
        {
            var result = generator.Generate(prompts[i % prompts.Length], new GenerationOptions
            {
                MaxNewTokens = 160,
                Constraint = constraint,
                Sampling = new SamplingOptions { Temperature = i % 2 == 0 ? 1f : 1.3f, Seed = 500 + i },
            });
            var (content, parsed) = ToolCallReader.Parse(WordMarker, Tools, result.Text);
            calls += parsed.Count;
            if (!string.IsNullOrWhiteSpace(content))
                withText++;
            foreach (var call in parsed)
                if (Problem(call) is { } problem)
                    failures.Add($"#{i}: {call.Name} {call.Arguments}: {problem}");
            // Every marker written opened a call that became one; only the token budget may cut the last.
            int opened = Count(result.Text, WordMarker.Marker);
            int unfinished = opened - parsed.Count;
            if (unfinished != 0 && !(unfinished == 1 && result.FinishReason == FinishReason.Length))
                failures.Add($"#{i}: {opened} markers but {parsed.Count} calls ({result.FinishReason}): {result.Text}");
        }
        Assert.IsEmpty(failures, string.Join("\n", failures.Take(5)));
        // 23 calls in 48 answers when this was written: enough that the check above is about something.
        Assert.IsGreaterThan(12, calls, "the sample opened calls (a test of constrained calls needs calls)");
        Assert.IsGreaterThan(24, withText, "the text around the calls stayed free");
    }

    [TestMethod]
    public void ForcedParallelCallsAreValidAndEndWithinTheBound()
    {
        string dir = FortuneReference.ConvertedFp32;
        using var model = LanguageModel.Load(dir);
        using var generator = new TextGenerator(model, TextTokenizer.FromFolder(dir));
        var format = ToolCallFormat.Hermes;
        var constraint = ToolCallConstraint.For(format, Tools, ToolChoice.Required, parallelCalls: true);
        var failures = new List<string>();
        var counts = new List<int>();
        for (int i = 0; i < 24; i++)
        {
            var result = generator.Generate("You will", new GenerationOptions
            {
                MaxNewTokens = 500,
                Constraint = constraint,
                Sampling = new SamplingOptions { Temperature = i % 2 == 0 ? 1f : 1.3f, Seed = 700 + i },
            });
            var (content, parsed) = ToolCallReader.Parse(format, Tools, result.Text);
            counts.Add(parsed.Count);
            if (result.FinishReason != FinishReason.Stop)
                failures.Add($"#{i}: finished with {result.FinishReason} after {result.TokenIds.Count} tokens");
            if (content is not null || parsed.Count is < 1 or > ToolCallConstraint.MaxParallelCalls)
                failures.Add($"#{i}: {parsed.Count} calls and text '{content}': {result.Text}");
            foreach (var call in parsed)
                if (Problem(call) is { } problem)
                    failures.Add($"#{i}: {call.Name} {call.Arguments}: {problem}");
        }
        Assert.IsEmpty(failures, string.Join("\n", failures.Take(5)));
        Assert.IsTrue(counts.Any(c => c > 1), $"some answers held several calls: {string.Join(", ", counts)}");
    }
}
