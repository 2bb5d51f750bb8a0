using System.Security.Cryptography;

namespace OpenWeights.Onnx.Server.Responses;

/// <summary>Response ids in OpenAI's style ("chatcmpl-…", "cmpl-…") and <c>created</c> timestamps.</summary>
public static class ResponseIds
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    public static string Chat() => "chatcmpl-" + RandomNumberGenerator.GetString(Alphabet, 24);
    public static string Completion() => "cmpl-" + RandomNumberGenerator.GetString(Alphabet, 24);
    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public static string? FinishReason(Generation.FinishReason? reason) => reason switch
    {
        Generation.FinishReason.Stop => "stop",
        Generation.FinishReason.Length => "length",
        _ => null,
    };
}
