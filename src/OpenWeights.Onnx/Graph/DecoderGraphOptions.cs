namespace OpenWeights.Onnx.Graph;

/// <summary>Choices about the graph's form that do not change what the model computes.</summary>
public sealed record DecoderGraphOptions
{
    /// <summary>Which prompt positions get logits (see <see cref="DecoderIo"/>).</summary>
    public LogitsScope Logits { get; init; } = LogitsScope.All;

    /// <summary>
    /// Norms from standard ONNX ops (RMSNorm as ReduceMean/Sqrt/Div in float32; LayerNormalization; the
    /// residual as an Add) instead of the com.microsoft (Skip)(Simplified)LayerNormalization: TensorRT parses
    /// no contrib op.
    /// </summary>
    public bool PrimitiveNorms { get; init; }

    /// <summary>
    /// q/k/v as one product and gate/up as one (<see cref="IWeightFormat.PackedLinear"/>), split after, as
    /// onnxruntime-genai's builder writes them; false gives one product per projection.
    /// </summary>
    public bool PackProjections { get; init; } = true;

    /// <summary>
    /// Mixture-of-experts MLPs from standard ops, every expert on every token (exact, E/k× the active work),
    /// instead of ONNX Runtime's MoE/QMoE, which run only the routed experts. Float experts only: the baseline the
    /// routed form is measured against (<c>ConversionOptions.DenseExperts</c>).
    /// </summary>
    public bool DenseExperts { get; init; }
}
