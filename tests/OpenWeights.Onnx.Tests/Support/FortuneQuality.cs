using System.Text.Json;
using OpenWeights.Onnx.Evaluation;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>The sample model's reference perplexity (transformers, float32) and our eval of a converted folder.</summary>
public static class FortuneQuality
{
    public static double ReferencePerplexity
    {
        get
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(TestFixtures.FortuneLlamaReference));
            return doc.RootElement.GetProperty("heldout_perplexity").GetProperty("ppl").GetDouble();
        }
    }

    public static string HeldOutText => File.ReadAllText(Path.Combine(TestFixtures.FortuneLlama, "heldout.txt"));

    public static EvaluationReport Evaluate(string modelDirectory, string? referenceDirectory = null)
    {
        var options = new OpenWeights.Onnx.Runtime.RuntimeOptions { MaxLength = 256 };
        using var model = LanguageModel.Load(modelDirectory, options);
        using var reference = referenceDirectory is null ? null : LanguageModel.Load(referenceDirectory, options);
        return PerplexityEvaluator.Run(model, TextTokenizer.FromFolder(modelDirectory), HeldOutText, 256, reference);
    }
}
