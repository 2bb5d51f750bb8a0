using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Requests;

/// <summary>
/// Turns request parameters into <see cref="GenerationOptions"/> for a prompt of known length: fields the request
/// leaves out come from the model's defaults, and a prompt plus completion that cannot fit the cache is refused
/// with 400 <c>context_length_exceeded</c> rather than failing later.
/// </summary>
internal static class GenerationOptionsMapper
{
    public static GenerationOptions Map(RequestParameters p, SamplingOptions defaults, int promptTokens, int maxLength,
        int defaultMaxTokens, string promptParam)
    {
        int room = maxLength - promptTokens;
        if (room < 1)
            throw ContextExceeded($"However, your {promptParam} resulted in {promptTokens} tokens, leaving no room for a completion. " +
                                  $"Please reduce the length of the {promptParam}.", maxLength, promptParam);
        int maxNew = p.MaxTokens ?? Math.Min(defaultMaxTokens, room);
        if (promptTokens + (long)maxNew > maxLength)
            throw ContextExceeded($"However, you requested {promptTokens + (long)maxNew} tokens ({promptTokens} in the {promptParam}, " +
                                  $"{maxNew} in the completion). Please reduce the length of the {promptParam} or completion.",
                maxLength, promptParam);

        var sampling = defaults with
        {
            Temperature = p.Temperature ?? defaults.Temperature,
            TopP = p.TopP ?? defaults.TopP,
            TopK = p.TopK ?? defaults.TopK,
            MinP = p.MinP ?? defaults.MinP,
            RepetitionPenalty = p.RepetitionPenalty ?? defaults.RepetitionPenalty,
            PresencePenalty = p.PresencePenalty ?? defaults.PresencePenalty,
            FrequencyPenalty = p.FrequencyPenalty ?? defaults.FrequencyPenalty,
            Seed = p.Seed,
            LogitBias = p.LogitBias,
        };
        // top_p = 0 keeps only the most likely token: that is greedy decoding.
        if (sampling.TopP == 0f)
            sampling = sampling with { Temperature = 0f, TopP = 1f };

        var options = new GenerationOptions
        {
            MaxNewTokens = maxNew,
            Sampling = sampling,
            StopStrings = p.Stop,
            StopAtEos = !p.IgnoreEos,
            TopLogProbs = p.TopLogProbs,
            Constraint = p.ResponseFormat,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw OpenAiException.BadRequest(e.Message, null, "invalid_value");
        }
        return options;
    }

    private static OpenAiException ContextExceeded(string detail, int maxLength, string promptParam) =>
        OpenAiException.BadRequest($"This model's maximum context length is {maxLength} tokens. {detail}",
            promptParam, "context_length_exceeded");
}
