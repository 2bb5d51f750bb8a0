using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Generation;

namespace OpenWeights.Onnx.Server.Scheduling;

/// <summary>One generation to schedule: prompt ids, options (validated, fitting the cache) and its cancellation.</summary>
public sealed record SequenceRequest
{
    public required int[] PromptIds { get; init; }
    public required GenerationOptions Options { get; init; }
    /// <summary>Report each token's log-probability (top alternatives: <see cref="GenerationOptions.TopLogProbs"/>).</summary>
    public bool LogProbs { get; init; }
    /// <summary>Cancelling (e.g. the client disconnected) ends the sequence and frees its slot before the next step.</summary>
    public CancellationToken Cancellation { get; init; }
    /// <summary>The run-time adapter this sequence decodes with; null: the base model.</summary>
    public AdapterFile? Adapter { get; init; }
}
