using System.Text.Json;
using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Adapters;

/// <summary>
/// An adapter on Phi-3's fused <c>qkv_proj</c> and <c>gate_up_proj</c> (PEFT names modules as the checkpoint does):
/// the converter splits those tensors into q/k/v and gate/up rows, so the adapter's B must be split the same way.
/// Judged against a checkpoint merged by plain loops over the whole fused tensors (W + scale·B·A, no slicing),
/// converted without any adapter code: merge at conversion and the run-time adapter must both match it.
/// </summary>
[TestClass]
[TestCategory(Category.Parity)]
public sealed class FusedProjectionAdapterTests
{
    private const int Rank = 4;
    private const float Alpha = 8, Sigma = 0.1f;

    [TestMethod]
    public void Phi3FusedProjectionsTakeTheirRowsOfTheAdapter()
    {
        string checkpoint = TestFixtures.Hf("phi3");
        string peft = WriteAdapter(checkpoint, out var pairs);
        string scratch = TestFixtures.Scratch("lora-phi3");
        var converter = new ModelConverter(KnownFamilies.All);

        string expectedFolder = Path.Combine(scratch, "by-hand");
        converter.Convert(MergeByHand(checkpoint, pairs, Path.Combine(scratch, "merged-checkpoint")), expectedFolder, new ConversionOptions());
        string mergedFolder = Path.Combine(scratch, "merged");
        converter.Convert(checkpoint, mergedFolder, new ConversionOptions { Adapters = [new AdapterMerge(peft)] });
        string baseFolder = Path.Combine(scratch, "base");
        converter.Convert(checkpoint, baseFolder, new ConversionOptions { AdapterInputs = true });
        string file = Path.Combine(scratch, "adapter.safetensors");
        AdapterPreparation.Prepare(peft, baseFolder, file);

        using var reference = ReferenceTensors.For(checkpoint);
        var tokens = reference.Longs("input_ids").Concat(reference.Longs("generated_ids")).Select(x => (int)x).ToArray();
        var expected = Score(expectedFolder, tokens, null);
        Assert.IsGreaterThan(0.5f, Logits.MaxAbsDiff(expected, Score(baseFolder, tokens, null)), "the adapter must change the logits visibly");
        float merged = Logits.MaxAbsDiff(Score(mergedFolder, tokens, null), expected);
        float runtime = Logits.MaxAbsDiff(Score(baseFolder, tokens, AdapterFile.Load(file)), expected);
        Console.WriteLine($"phi3 fused: merged max |Δ| {merged:E2}, run-time max |Δ| {runtime:E2}");
        Assert.IsLessThanOrEqualTo(LoraReference.Tolerance, merged, "merged at conversion");
        Assert.IsLessThanOrEqualTo(LoraReference.Tolerance, runtime, "run-time adapter");
    }

    private static float[] Score(string folder, int[] tokens, AdapterFile? adapter)
    {
        using var model = LanguageModel.Load(folder);
        using var decoder = model.CreateDecoder(1, adapter?.Rank ?? 0);
        if (adapter is not null)
            decoder.Adapters!.Assign(0, adapter);
        var all = new float[tokens.Length * decoder.VocabSize];
        decoder.Append(0, tokens, all);
        return all;
    }

    /// <summary>Seeded A [r, in] and B [out, r] on every matrix of each layer, named as peft names them.</summary>
    private static string WriteAdapter(string checkpoint, out Dictionary<string, (float[] A, float[] B, int Out, int In)> pairs)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(checkpoint, "model.safetensors"));
        var random = new Random(3);
        pairs = new();
        var tensors = new List<(string, long[], float[])>();
        foreach (var (name, info) in file.Tensors.Where(t => t.Key.Contains(".layers.") && t.Value.Shape.Length == 2).OrderBy(t => t.Key))
        {
            int outF = (int)info.Shape[0], inF = (int)info.Shape[1];
            var a = Enumerable.Range(0, Rank * inF).Select(_ => Sigma * (float)(random.NextDouble() * 2 - 1)).ToArray();
            var b = Enumerable.Range(0, outF * Rank).Select(_ => Sigma * (float)(random.NextDouble() * 2 - 1)).ToArray();
            string module = name[..^".weight".Length];
            pairs[name] = (a, b, outF, inF);
            tensors.Add(($"base_model.model.{module}.lora_A.weight", [Rank, inF], a));
            tensors.Add(($"base_model.model.{module}.lora_B.weight", [outF, Rank], b));
        }
        string dir = TestFixtures.Scratch("phi3-adapter");
        SafeTensorsWriter.WriteFloats(Path.Combine(dir, LoraAdapter.WeightsFile), tensors.ToArray());
        File.WriteAllText(Path.Combine(dir, LoraConfig.FileName), JsonSerializer.Serialize(new
        {
            peft_type = "LORA", r = Rank, lora_alpha = Alpha, bias = "none",
            target_modules = new[] { "qkv_proj", "o_proj", "gate_up_proj", "down_proj" },
        }));
        return dir;
    }

    /// <summary>The checkpoint with W + (α/r)·B·A written into each whole tensor, by plain loops.</summary>
    private static unsafe string MergeByHand(string checkpoint, Dictionary<string, (float[] A, float[] B, int Out, int In)> pairs, string output)
    {
        Directory.CreateDirectory(output);
        foreach (var name in new[] { "config.json", "generation_config.json" })
            File.Copy(Path.Combine(checkpoint, name), Path.Combine(output, name));
        using var file = SafeTensorsFile.Open(Path.Combine(checkpoint, "model.safetensors"));
        var tensors = new List<(string, long[], float[])>();
        foreach (var (name, info) in file.Tensors.OrderBy(t => t.Key))
        {
            var values = new float[info.ElementCount];
            FloatConversion.ToSingle(new ReadOnlySpan<byte>(file.Pointer(info), (int)info.Length), info.DType, values);
            if (pairs.TryGetValue(name, out var p))
                for (int o = 0; o < p.Out; o++)
                    for (int i = 0; i < p.In; i++)
                    {
                        double sum = 0;
                        for (int r = 0; r < Rank; r++)
                            sum += p.B[o * Rank + r] * p.A[r * p.In + i];
                        values[o * p.In + i] += (float)(Alpha / Rank * sum);
                    }
            tensors.Add((name, info.Shape, values));
        }
        SafeTensorsWriter.WriteFloats(Path.Combine(output, "model.safetensors"), tensors.ToArray());
        return output;
    }
}
