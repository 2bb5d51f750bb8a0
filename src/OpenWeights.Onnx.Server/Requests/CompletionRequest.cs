using System.Text.Json;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Requests;

/// <summary>
/// A POST /v1/completions body: one raw prompt, as text (tokenized with the tokenizer's special tokens, e.g. BOS) or as
/// token ids, and the generation parameters. OpenAI's default of 16 new tokens applies.
/// </summary>
internal sealed record CompletionRequest(RequestParameters Parameters, string? PromptText, int[]? PromptIds)
{
    public const int DefaultMaxTokens = 16;

    public static CompletionRequest Parse(JsonElement body)
    {
        var f = JsonFields.Root(body);
        var parameters = RequestParameters.Parse(f, chat: false);
        if (f.Bool("echo") == true)
            throw OpenAiException.Unsupported("echo", "echo is not supported by this server.");
        if (f.Get("suffix") is { } suffix && !(suffix.ValueKind == JsonValueKind.String && suffix.GetString()!.Length == 0))
            throw OpenAiException.Unsupported("suffix", "suffix (insertion) is not supported by this server.");
        if (f.Int("best_of", 1, 128) is > 1)
            throw OpenAiException.Unsupported("best_of", "Only best_of = 1 is supported.");

        var prompt = f.Get("prompt") ?? throw OpenAiException.BadRequest(
            "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
        switch (prompt.ValueKind)
        {
            case JsonValueKind.String:
                return new CompletionRequest(parameters, JsonFields.AsString(prompt, "prompt"), null);
            case JsonValueKind.Array when prompt.GetArrayLength() == 0:
                throw OpenAiException.BadRequest("Invalid 'prompt': empty array.", "prompt", "empty_array");
            case JsonValueKind.Array when prompt[0].ValueKind == JsonValueKind.Number:
                return new CompletionRequest(parameters, null, TokenIds(prompt, "prompt"));
            case JsonValueKind.Array when prompt.GetArrayLength() > 1:
                throw OpenAiException.Unsupported("prompt", "Only one prompt per request is supported.");
            case JsonValueKind.Array when prompt[0].ValueKind == JsonValueKind.String:
                return new CompletionRequest(parameters, JsonFields.AsString(prompt[0], "prompt[0]"), null);
            case JsonValueKind.Array when prompt[0].ValueKind == JsonValueKind.Array:
                return new CompletionRequest(parameters, null, TokenIds(prompt[0], "prompt[0]"));
            default:
                throw OpenAiException.InvalidType("prompt", "a string, an array of token ids, or an array with one of these",
                    JsonFields.Describe(prompt));
        }
    }

    private static int[] TokenIds(JsonElement array, string path)
    {
        var ids = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id) || id < 0)
                throw OpenAiException.InvalidValue($"{path}[{i}]", "token ids must be non-negative integers.");
            ids[i++] = id;
        }
        return ids;
    }
}
