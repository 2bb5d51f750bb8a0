using System.Text.Json;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Requests;

/// <summary>
/// The generation parameters common to /v1/chat/completions and /v1/completions, parsed and range-checked as OpenAI
/// does. Absent sampling fields (null) fall back to the model's generation_config.json. <c>response_format</c> and
/// <c>logit_bias</c> are read for both endpoints (as vLLM does). Extensions as in vLLM:
/// <c>top_k</c>, <c>min_p</c>, <c>repetition_penalty</c>, <c>ignore_eos</c>.
/// </summary>
internal sealed record RequestParameters
{
    /// <summary>At most this many stop strings, as OpenAI allows.</summary>
    public const int MaxStopStrings = 4;

    public required string Model { get; init; }
    public int? MaxTokens { get; init; }
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? TopK { get; init; }
    public float? MinP { get; init; }
    public float? RepetitionPenalty { get; init; }
    public float? PresencePenalty { get; init; }
    public float? FrequencyPenalty { get; init; }
    public long? Seed { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public bool IgnoreEos { get; init; }
    public bool LogProbs { get; init; }
    public int TopLogProbs { get; init; }
    /// <summary><c>logit_bias</c> (token id → bias); ids are checked against the vocabulary when the request is submitted.</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    /// <summary><c>response_format</c> json_object / json_schema as a constraint; null for text.</summary>
    public Generation.Constraints.OutputConstraint? ResponseFormat { get; init; }
    /// <summary>Choices to generate (OpenAI's <c>n</c>); the endpoint bounds it by the batch slots.</summary>
    public int N { get; init; } = 1;

    /// <param name="chat">Chat's names and shapes (max_completion_tokens; logprobs as a boolean plus top_logprobs)
    /// rather than the legacy completions' (logprobs as a count of alternatives, at most 5).</param>
    public static RequestParameters Parse(JsonFields f, bool chat)
    {
        string model = f.RequiredString("model");
        int? maxTokens = chat ? f.Int("max_completion_tokens", 1, int.MaxValue) ?? f.Int("max_tokens", 1, int.MaxValue)
                              : f.Int("max_tokens", 1, int.MaxValue);

        int n = f.Int("n", 1, 128) ?? 1;

        bool stream = f.Bool("stream") ?? false;
        bool includeUsage = false;
        if (f.Get("stream_options") is { } so)
        {
            if (!stream)
                throw OpenAiException.InvalidValue(f.PathOf("stream_options"), "stream_options is only allowed when 'stream' is true.");
            includeUsage = JsonFields.Object(so, f.PathOf("stream_options")).Bool("include_usage") ?? false;
        }

        bool logProbs;
        int topLogProbs;
        if (chat)
        {
            logProbs = f.Bool("logprobs") ?? false;
            topLogProbs = f.Int("top_logprobs", 0, 20) ?? 0;
            if (f.Has("top_logprobs") && !logProbs)
                throw OpenAiException.InvalidValue(f.PathOf("top_logprobs"), "'logprobs' must be true when 'top_logprobs' is used.");
        }
        else
        {
            int? count = f.Int("logprobs", 0, 5);
            logProbs = count is not null;
            topLogProbs = count ?? 0;
        }

        float? minP = f.Number("min_p", 0, 1);
        if (minP >= 1f)
            throw OpenAiException.InvalidValue(f.PathOf("min_p"), "expected a value in [0, 1).");
        float? repetition = f.Number("repetition_penalty", 0, 100);
        if (repetition <= 0f)
            throw OpenAiException.InvalidValue(f.PathOf("repetition_penalty"), "expected a value > 0 (1 = off).");

        return new RequestParameters
        {
            Model = model,
            MaxTokens = maxTokens,
            Temperature = f.Number("temperature", 0, 2),
            TopP = f.Number("top_p", 0, 1),
            TopK = f.Int("top_k", 0, int.MaxValue),
            MinP = minP,
            RepetitionPenalty = repetition,
            PresencePenalty = f.Number("presence_penalty", -2, 2),
            FrequencyPenalty = f.Number("frequency_penalty", -2, 2),
            Seed = f.Long("seed"),
            Stop = ParseStop(f),
            Stream = stream,
            IncludeUsage = includeUsage,
            IgnoreEos = f.Bool("ignore_eos") ?? false,
            LogProbs = logProbs,
            TopLogProbs = topLogProbs,
            LogitBias = Requests.ResponseFormat.ParseLogitBias(f),
            ResponseFormat = Requests.ResponseFormat.Parse(f),
            N = n,
        };
    }

    private static IReadOnlyList<string> ParseStop(JsonFields f)
    {
        string path = f.PathOf("stop");
        switch (f.Get("stop"))
        {
            case null:
                return [];
            case { ValueKind: JsonValueKind.String } s:
            {
                string stop = JsonFields.AsString(s, path);
                return stop.Length == 0 ? [] : [stop];
            }
            case { ValueKind: JsonValueKind.Array } array:
            {
                if (array.GetArrayLength() > MaxStopStrings)
                    throw OpenAiException.InvalidValue(path, $"array too long. Expected at most {MaxStopStrings} stop strings, but got {array.GetArrayLength()}.");
                var stops = new List<string>();
                int i = 0;
                foreach (var item in array.EnumerateArray())
                {
                    string stop = JsonFields.AsString(item, $"{path}[{i++}]");
                    if (stop.Length == 0)
                        throw OpenAiException.InvalidValue($"{path}[{i - 1}]", "stop strings must not be empty.");
                    stops.Add(stop);
                }
                return stops;
            }
            case { } other:
                throw OpenAiException.InvalidType(path, "a string or an array of strings", JsonFields.Describe(other));
        }
    }
}
