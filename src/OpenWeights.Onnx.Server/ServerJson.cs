using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace OpenWeights.Onnx.Server;

/// <summary>How responses are written: OpenAI's snake_case names, nulls left out unless a type says otherwise.</summary>
public static class ServerJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Log-probabilities of impossible tokens are -inf; JSON has no such number, so they are written as strings
        // rather than failing a response. The sampler reports finite values for every returned token.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // Responses are JSON for API clients, never embedded in HTML: keep text readable ("can't", not "can\u0027t").
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static JsonDocumentOptions DocumentOptions { get; } = new()
    {
        MaxDepth = 64,
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
    };
}
