using System.Diagnostics;
using Google.Protobuf;
using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Graph;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Quantization;
using OpenWeights.Onnx.Weights;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Conversion;

/// <summary>
/// checkpoint → model description → graph (+ weights streamed to external data) → files, moved into
/// place only when complete.
/// </summary>
public sealed class ModelConverter(ModelFamilies families)
{
    public const string ModelFile = "model.onnx";
    public const string DataFile = "model.onnx.data";

    /// <summary>
    /// Tokenizer and config files copied beside the model, when the checkpoint has them; tokenizer_config.json is
    /// written by <see cref="ChatTemplateFiles"/> (copied, or with its chat template made readable by every engine).
    /// </summary>
    public static readonly string[] CopiedFiles =
    [
        "tokenizer.json", "special_tokens_map.json", "vocab.json", "merges.txt",
        "tokenizer.model", "generation_config.json", "config.json",
    ];

    public ConversionResult Convert(string checkpointDirectory, string outputDirectory, ConversionOptions options,
        IProgress<ConversionProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Convert(checkpointDirectory, outputDirectory, options, WeightFormatFor(options), progress, cancellationToken);

    /// <summary>Quantized weights are MatMulNBits, or for TensorRT (no contrib ops) DequantizeLinear → MatMul.</summary>
    private static Func<InitializerStore, IWeightFormat> WeightFormatFor(ConversionOptions options) =>
        options.EffectiveQuantization is { } quantization
            ? options.Target == ExecutionTarget.TensorRt
                ? store => new DequantizedWeights(store, quantization)
                : store => new QuantizedWeights(store, quantization)
            : store => new FloatWeights(store);

    /// <summary>With an explicit weight format: tests use it to build reference graphs through the same pipeline.</summary>
    internal ConversionResult Convert(string checkpointDirectory, string outputDirectory, ConversionOptions options,
        Func<InitializerStore, IWeightFormat> weightFormat, IProgress<ConversionProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        var clock = Stopwatch.StartNew();
        using var checkpoint = Checkpoint.Open(checkpointDirectory);
        checkpoint.AllowNonFinite = options.AllowNonFinite;
        var family = families.For(checkpoint.Config.Architecture, checkpoint.Config.Path);
        var model = CheckpointChecks.TokenIds(family.Describe(checkpoint.Config, checkpoint.Generation), checkpoint);
        var weights = family.MapWeights(model, checkpoint.Config, checkpoint.Contains);
        CheckpointChecks.WeightsExist(checkpoint, model, weights.All());
        CheckpointChecks.NoUnusedTensors(checkpoint, model, weights.All(),
            tiedHead: weights.LmHead is null ? "lm_head.weight" : null);
        var merge = MergedAdapters(options.Adapters, weights, checkpoint);
        var chatTemplates = ChatTemplateFiles.Read(checkpointDirectory);

        using var output = new OutputFolder(outputDirectory, options.Overwrite,
            [checkpointDirectory, .. options.Adapters.Select(a => a.Directory)]);
        var graph = new GraphBuilder();
        ConversionProgress totals;
        IReadOnlyList<LoraSite>? sites;
        long dataBytes;
        using (var data = new ExternalDataWriter(Path.Combine(output.Staging, DataFile), DataFile))
        using (var reader = new WeightReader(checkpoint, merge))
        {
            var cancellable = new CancellingProgress(progress, cancellationToken);
            var store = new InitializerStore(graph, reader, data, StorageType(options), ComputeType(options), cancellable);
            store.Progress.ExpectedElements = weights.All().Sum(reader.Elements);
            var format = weightFormat(store);
            var loraInputs = options.AdapterInputs ? new LoraInputs(format, store) : null;
            new DecoderGraph(model, weights, store, loraInputs ?? format, new DecoderGraphOptions
            {
                Logits = options.Logits,
                PrimitiveNorms = options.Target == ExecutionTarget.TensorRt,
                PackProjections = options.PackProjections,
                DenseExperts = options.DenseExperts,
            }).Build();
            merge?.EnsureAllApplied();
            sites = loraInputs?.Sites;
            data.Flush();
            totals = store.Progress;
            dataBytes = data.Length;
        }

        cancellationToken.ThrowIfCancellationRequested();
        WriteModel(Path.Combine(output.Staging, ModelFile), graph, model, options, totals.Parameters, sites);
        GenAiConfigWriter.Write(Path.Combine(output.Staging, GenAiConfigWriter.FileName),
            GenAiConfigWriter.Build(model, checkpoint.Generation, options.Target, ModelFile));
        foreach (var name in CopiedFiles)
        {
            string source = Path.Combine(checkpointDirectory, name);
            if (File.Exists(source))
                File.Copy(source, Path.Combine(output.Staging, name));
        }
        chatTemplates.WriteTo(output.Staging);
        output.Commit();
        return new ConversionResult(output.Final, model, totals.Tensors, totals.Parameters, dataBytes, clock.Elapsed)
        {
            NonFiniteTensors = checkpoint.NonFiniteTensors.ToList(),
        };
    }

    /// <summary>Opens and checks every adapter against the base before anything is written; null when there are none.</summary>
    private static LoraMerge? MergedAdapters(IReadOnlyList<AdapterMerge> adapters, DecoderWeights weights, Checkpoint checkpoint)
    {
        if (adapters.Count == 0)
            return null;
        var targets = LoraTarget.For(weights, checkpoint);
        var merge = new LoraMerge();
        foreach (var a in adapters)
        {
            using var adapter = LoraAdapter.Open(a.Directory);
            merge.Add(adapter.Match(targets, a.Scale));
        }
        return merge;
    }

    /// <summary>
    /// How float tensors (weights kept float, norms, rotary tables) are stored: --precision fp16 in the 16-bit
    /// compute type (bfloat16 when computing in bf16); beside quantized weights, in the compute type; fp32
    /// as float32 (cast to the compute type by a node ONNX Runtime folds at load).
    /// </summary>
    private static DataType StorageType(ConversionOptions o) => o.Precision switch
    {
        Precision.Fp32 => DataType.Float,
        Precision.Fp16 => o.EffectiveCompute == OpenWeights.Onnx.ComputeType.Bf16 ? DataType.Bfloat16 : DataType.Float16,
        _ => ComputeType(o),
    };

    /// <summary>Activations, KV cache, norms, rotary tables and quantization scales (logits are always float32).</summary>
    private static DataType ComputeType(ConversionOptions o) => (DataType)DecoderIo.ElementType(o.EffectiveCompute);

    private static void WriteModel(string path, GraphBuilder graph, ModelDescription model, ConversionOptions options, long parameters,
        IReadOnlyList<LoraSite>? sites)
    {
        var proto = new ModelProto
        {
            IrVersion = 10,
            ProducerName = "owonnx",
            ProducerVersion = typeof(ModelConverter).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = graph.Graph,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = GraphBuilder.MicrosoftDomain, Version = 1 });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = "owonnx.architecture", Value = model.Architecture });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = "owonnx.precision", Value = options.Precision.ToString().ToLowerInvariant() });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = "owonnx.target", Value = options.Target.ToString().ToLowerInvariant() });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = "owonnx.parameters", Value = parameters.ToString() });
        if (sites is not null)
            proto.MetadataProps.Add(new StringStringEntryProto { Key = LoraSite.MetadataKey, Value = LoraSite.Serialize(sites) });
        if (options.Adapters.Count > 0)
            proto.MetadataProps.Add(new StringStringEntryProto
            {
                Key = "owonnx.merged_adapters",
                Value = string.Join("; ", options.Adapters.Select(a => $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a.Directory)))} x{a.Scale}")),
            });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = DecoderIo.ComputeMetadataKey, Value = options.EffectiveCompute.ToString().ToLowerInvariant() });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = DecoderIo.LogitsMetadataKey, Value = options.Logits.ToString().ToLowerInvariant() });
        if (options.EffectiveQuantization is { } q)
            proto.MetadataProps.Add(new StringStringEntryProto
            {
                Key = "owonnx.quantization",
                Value = $"bits={q.Bits} block_size={q.BlockSize} symmetric={q.Symmetric.ToString().ToLowerInvariant()} " +
                        $"method={q.Method.ToString().ToLowerInvariant()} accuracy_level={q.AccuracyLevel} " +
                        $"lm_head={(q.LmHeadBits is { } h ? $"int{h}" : "float")} embedding={q.Embedding.ToString().ToLowerInvariant()}",
            });
        // LongRoPE: past this total length the graph switches to the long tables; a runtime reproducing
        // transformers re-runs the whole sequence when it crosses it (the cached keys used the short ones).
        if (model.Rotary?.SwitchLength is { } switchLength)
            proto.MetadataProps.Add(new StringStringEntryProto { Key = "owonnx.rope_switch_length", Value = switchLength.ToString() });
        using var stream = File.Create(path);
        proto.WriteTo(stream);
    }

    /// <summary>Checks for cancellation between tensors, where stopping is cheap and safe.</summary>
    private sealed class CancellingProgress(IProgress<ConversionProgress>? inner, CancellationToken token) : IProgress<ConversionProgress>
    {
        public void Report(ConversionProgress value)
        {
            token.ThrowIfCancellationRequested();
            inner?.Report(value);
        }
    }
}
