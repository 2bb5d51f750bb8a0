using Microsoft.ML.OnnxRuntimeGenAI;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Generation;

/// <summary>
/// Our generation loop and onnxruntime-genai's, on the same converted folder, choose the same greedy tokens —
/// also for INT4, where both run the same MatMulNBits kernels and the reference is no longer transformers.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class GenAiAgreementTests
{
    [TestMethod]
    [DataRow(Precision.Fp32)]
    [DataRow(Precision.Int4)]
    public void OurGreedyTokensEqualGenAisOnTheSampleModel(Precision precision)
    {
        string dir = ConvertedFixtures.Get(TestFixtures.FortuneLlama, precision);
        using var ours = LanguageModel.Load(dir);
        using var generator = new TextGenerator(ours, TextTokenizer.FromFolder(dir));
        using var model = new Model(dir);
        foreach (var reference in FortuneReference.Greedy())
        {
            var mine = generator.Generate(reference.InputIds, new GenerationOptions { MaxNewTokens = 30, StopAtEos = false }).TokenIds;

            using var parameters = new GeneratorParams(model);
            parameters.SetSearchOption("max_length", reference.InputIds.Length + 30);
            parameters.SetSearchOption("do_sample", false);
            using var genai = new Generator(model, parameters);
            genai.AppendTokens(reference.InputIds);
            while (!genai.IsDone())
                genai.GenerateNextToken();
            var theirs = genai.GetSequence(0).ToArray()[reference.InputIds.Length..];

            // genai stops at EOS (id 0); compare up to where it stopped.
            int n = Math.Min(theirs.Length, mine.Count);
            Assert.IsGreaterThan(5, n);
            CollectionAssert.AreEqual(theirs[..n], mine.Take(n).ToArray(), $"{precision}: '{reference.Prompt}'");
        }
    }
}
