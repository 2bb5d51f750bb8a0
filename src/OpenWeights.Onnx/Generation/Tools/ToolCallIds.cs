using System.Security.Cryptography;
using System.Text;

namespace OpenWeights.Onnx.Generation.Tools;

/// <summary>Ids of tool calls: OpenAI's "call_" + 24 letters and digits; Mistral's templates want exactly 9.</summary>
public static class ToolCallIds
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    public static string New() => "call_" + RandomNumberGenerator.GetString(Alphabet, 24);

    /// <summary>
    /// The id as a 9-character alphanumeric string, which Mistral's chat templates require (they raise otherwise):
    /// an id already in that form is kept; any other maps to one derived from its hash, so a call and the tool
    /// message answering it still match.
    /// </summary>
    public static string ForMistral(string id)
    {
        if (id.Length == 9 && id.All(char.IsAsciiLetterOrDigit))
            return id;
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(id));
        var chars = new char[9];
        for (int i = 0; i < chars.Length; i++)
            chars[i] = Alphabet[hash[i] % Alphabet.Length];
        return new string(chars);
    }
}
