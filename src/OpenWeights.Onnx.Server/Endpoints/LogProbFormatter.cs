using System.Text;
using OpenWeights.Onnx.Server.Responses;
using OpenWeights.Onnx.Server.Scheduling;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Server.Endpoints;

/// <summary>Writes tokens' log-probabilities in the chat and the legacy completions shapes.</summary>
internal sealed class LogProbFormatter(TextTokenizer tokenizer)
{
    public string Text(int tokenId) => Encoding.UTF8.GetString(tokenizer.TokenBytes(tokenId));

    public int[] Bytes(int tokenId)
    {
        var bytes = tokenizer.TokenBytes(tokenId);
        var result = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
            result[i] = bytes[i];
        return result;
    }

    public ChatTokenLogProb Chat(TokenGenerated token) => new(
        Text(token.TokenId), token.LogProb, Bytes(token.TokenId),
        token.TopLogProbs?.Select(t => new ChatTopLogProb(Text(t.TokenId), t.LogProb, Bytes(t.TokenId))).ToArray() ?? []);

    public ChatLogProbs Chat(IEnumerable<TokenGenerated> tokens) => new(tokens.Select(Chat).ToArray());

    /// <param name="offset">Characters of completion text before the first of these tokens.</param>
    public TextLogProbs Completion(IReadOnlyList<TokenGenerated> tokens, int offset)
    {
        var texts = new string[tokens.Count];
        var offsets = new int[tokens.Count];
        var top = new IReadOnlyDictionary<string, float>[tokens.Count];
        for (int i = 0; i < tokens.Count; i++)
        {
            texts[i] = Text(tokens[i].TokenId);
            offsets[i] = offset;
            offset += texts[i].Length;
            var alternatives = new Dictionary<string, float>();
            foreach (var t in tokens[i].TopLogProbs ?? [])
                alternatives.TryAdd(Text(t.TokenId), t.LogProb);
            top[i] = alternatives;
        }
        return new TextLogProbs(texts, tokens.Select(t => t.LogProb).ToArray(), top, offsets);
    }
}
