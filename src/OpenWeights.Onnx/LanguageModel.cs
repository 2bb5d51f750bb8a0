using Microsoft.ML.OnnxRuntime;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx;

/// <summary>
/// A converted model folder loaded for generation: the ONNX Runtime session and the folder's config.
/// Decoders (each with its own preallocated cache) are created from it; the session is shared.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    public GenAiConfig Config { get; }
    public RuntimeOptions Options { get; }
    public InferenceSession Session { get; }
    public int MaxLength { get; }

    private LanguageModel(GenAiConfig config, RuntimeOptions options, InferenceSession session)
    {
        Config = config;
        Options = options;
        Session = session;
        MaxLength = options.EffectiveMaxLength(config);
    }

    public static LanguageModel Load(string directory, RuntimeOptions? options = null)
    {
        options ??= new RuntimeOptions();
        options.Validate();
        var config = GenAiConfig.Load(directory);
        var session = SessionFactory.Create(config, options);
        try
        {
            config.CheckAgainst(
                session.InputMetadata.ToDictionary(p => p.Key, p => p.Value.Dimensions),
                session.OutputMetadata.ToDictionary(p => p.Key, p => p.Value.Dimensions));
        }
        catch
        {
            session.Dispose();
            throw;
        }
        if (session.ModelMetadata.CustomMetadataMap.TryGetValue("owonnx.rope_switch_length", out var text)
            && int.TryParse(text, out int switchLength))
            config = config with { RopeSwitchLength = switchLength };
        try
        {
            config = config with { Io = DecoderIo.Of(session, config.PastKey(0), config.LogitsName) };
        }
        catch
        {
            session.Dispose();
            throw;
        }
        return new LanguageModel(config, options, session);
    }

    /// <summary>
    /// A decoder with <paramref name="slots"/> sequences (default: the options' max batch); with
    /// <paramref name="adapterRank"/> above 0 each slot can run its own adapter of up to that rank.
    /// </summary>
    public BatchDecoder CreateDecoder(int? slots = null, int adapterRank = 0) =>
        new(Session, Config, slots ?? Options.MaxBatch, MaxLength, adapterRank,
            BufferPlacement.For(Session, Options.ExecutionProvider, Options.Gpu),
            Options.ExecutionProvider != ExecutionTarget.Cpu && Options.Gpu.CudaGraph);

    public void Dispose()
    {
        // A profiled session (OWONNX_ORT_PROFILE) writes its JSON file when profiling ends.
        if (Environment.GetEnvironmentVariable(SessionFactory.ProfileVariable) is { Length: > 0 })
            Session.EndProfiling();
        Session.Dispose();
    }
}
