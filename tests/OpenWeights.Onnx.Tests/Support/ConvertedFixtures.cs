using System.Collections.Concurrent;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>Converts each shared fixture once per test run (per set of options) and hands out the folder.</summary>
public static class ConvertedFixtures
{
    private static readonly ConcurrentDictionary<string, Lazy<string>> Cache = new();

    public static string Get(string checkpointDirectory, Precision precision = Precision.Fp32) =>
        Get(checkpointDirectory, new ConversionOptions { Precision = precision });

    /// <summary>A conversion with other options (logits scope, target, compute type); one folder per distinct set.</summary>
    public static string Get(string checkpointDirectory, ConversionOptions options) =>
        Cache.GetOrAdd($"{checkpointDirectory}|{options}", _ => new Lazy<string>(() =>
        {
            string output = Path.Combine(TestFixtures.Scratch("converted"), Path.GetFileName(checkpointDirectory));
            new ModelConverter(KnownFamilies.All).Convert(checkpointDirectory, output, options);
            return output;
        })).Value;

    public static string Hf(string fixture, Precision precision = Precision.Fp32) => Get(TestFixtures.Hf(fixture), precision);

    public static string Hf(string fixture, ConversionOptions options) => Get(TestFixtures.Hf(fixture), options);
}
