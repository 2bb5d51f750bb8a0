using System.Text.Json;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>The greedy continuations transformers produced for the sample model (reference.json).</summary>
public sealed record FortuneGreedy(string Prompt, int[] InputIds, int[] GenerateApiIds, string TextUntilEos);

public static class FortuneReference
{
    public static IReadOnlyList<FortuneGreedy> Greedy()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestFixtures.FortuneLlamaReference));
        return doc.RootElement.GetProperty("greedy").GetProperty("results").EnumerateArray()
            .Select(r => new FortuneGreedy(
                r.GetProperty("prompt").GetString()!,
                r.GetProperty("input_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                r.GetProperty("generate_api_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                r.GetProperty("text_until_eos").GetString()!))
            .ToList();
    }

    public static string ConvertedFp32 => ConvertedFixtures.Get(TestFixtures.FortuneLlama);
}
