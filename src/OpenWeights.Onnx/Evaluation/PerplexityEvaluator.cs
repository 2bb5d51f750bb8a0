using System.Numerics.Tensors;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Evaluation;

public sealed record EvaluationReport(
    string Model,
    int Tokens,
    int Window,
    int Windows,
    int Predictions,
    double MeanNll,
    double Perplexity,
    string? Reference,
    double? ReferencePerplexity,
    double? MeanKlDivergence,
    double? Top1Agreement);

/// <summary>
/// Perplexity over non-overlapping windows, and with a reference model the mean KL divergence of the
/// next-token distributions and the top-1 agreement rate (the numbers llama.cpp users know).
/// Protocol: ids = tokenizer(text) without special tokens; windows of <c>window</c> ids from the start, the
/// tail shorter than a window dropped; each window is an independent pass from position 0 (no BOS, no cache);
/// token t+1 is predicted from tokens 0..t for t = 0..window−2; PPL = exp(mean NLL over all predictions).
/// KL is KL(reference ‖ model) in nats, averaged over the same predictions.
/// </summary>
public static class PerplexityEvaluator
{
    public const string Protocol =
        "ids = tokenizer(text) without special tokens; non-overlapping windows of --window ids (the tail that does " +
        "not fill a window is dropped); each window is scored independently from position 0 with no BOS and no " +
        "cache; token t+1 is predicted from tokens 0..t (window−1 predictions per window); perplexity = " +
        "exp(mean NLL); KL = mean KL(reference ‖ model) in nats; top-1 = share of predictions whose argmax agrees.";

    public static EvaluationReport Run(LanguageModel model, TextTokenizer tokenizer, string text, int window,
        LanguageModel? reference = null, IProgress<(int Done, int Total)>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (window < 2)
            throw new ArgumentException($"window {window} must be at least 2.");
        foreach (var m in reference is null ? [model] : new[] { model, reference })
            if (m.Config.Io.LogitsScope == LogitsScope.Last)
                throw new ArgumentException(
                    $"{m.Config.Directory} was converted with --logits last, so it returns logits for each prompt's last " +
                    "position only; eval scores every position: convert it again with --logits all.");
        if (window > model.MaxLength)
            throw new ArgumentException($"window {window} exceeds the model's max length {model.MaxLength}; pass a larger max length or a smaller window.");
        if (reference is not null && reference.Config.VocabSize != model.Config.VocabSize)
            throw new ArgumentException($"reference vocabulary {reference.Config.VocabSize} differs from the model's {model.Config.VocabSize}.");

        var ids = tokenizer.Encode(text, addSpecialTokens: false);
        int windows = ids.Length / window;
        if (windows == 0)
            throw new ArgumentException($"the text has {ids.Length} tokens, fewer than one window of {window}.");

        int vocab = model.Config.VocabSize;
        var logits = new float[window * vocab];
        var referenceLogits = reference is null ? null : new float[window * vocab];
        var logProbs = new float[vocab];
        var referenceLogProbs = new float[vocab];
        var probs = new float[vocab];
        using var decoder = model.CreateDecoder(1);
        using var referenceDecoder = reference?.CreateDecoder(1);

        double nll = 0, referenceNll = 0, kl = 0;
        long agree = 0, predictions = 0;
        for (int w = 0; w < windows; w++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var tokens = ids.AsSpan(w * window, window);
            decoder.Rewind(0, 0);
            decoder.Append(0, tokens, logits);
            if (referenceDecoder is not null)
            {
                referenceDecoder.Rewind(0, 0);
                referenceDecoder.Append(0, tokens, referenceLogits);
            }
            for (int t = 0; t < window - 1; t++)
            {
                LogSoftmax(logits.AsSpan(t * vocab, vocab), logProbs);
                nll -= logProbs[tokens[t + 1]];
                if (referenceLogits is not null)
                {
                    LogSoftmax(referenceLogits.AsSpan(t * vocab, vocab), referenceLogProbs);
                    referenceNll -= referenceLogProbs[tokens[t + 1]];
                    // KL(p‖q) = Σ p (log p − log q)
                    TensorPrimitives.Exp(referenceLogProbs, probs);
                    TensorPrimitives.Subtract(referenceLogProbs, logProbs, logProbs);
                    kl += TensorPrimitives.Dot(probs, logProbs);
                    if (TensorPrimitives.IndexOfMax(referenceLogits.AsSpan(t * vocab, vocab)) ==
                        TensorPrimitives.IndexOfMax(logits.AsSpan(t * vocab, vocab)))
                        agree++;
                }
                predictions++;
            }
            progress?.Report((w + 1, windows));
        }

        double meanNll = nll / predictions;
        return new EvaluationReport(model.Config.Directory, ids.Length, window, windows, (int)predictions, meanNll, Math.Exp(meanNll),
            reference?.Config.Directory,
            reference is null ? null : Math.Exp(referenceNll / predictions),
            reference is null ? null : kl / predictions,
            reference is null ? null : (double)agree / predictions);
    }

    /// <summary>log softmax in float64 accumulation: NLL sums over tens of thousands of predictions.</summary>
    private static void LogSoftmax(ReadOnlySpan<float> logits, Span<float> destination)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float x in logits)
            sum += Math.Exp(x - max);
        float logSum = (float)(max + Math.Log(sum));
        TensorPrimitives.Subtract(logits, logSum, destination);
    }
}
