using System.Runtime.CompilerServices;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>
/// Every ordinary token of a tokenizer as a byte trie laid out in preorder: node i's subtree is [i, SubtreeEnd[i]),
/// so a walk that finds a byte impossible skips the whole subtree in one jump, and the parser state of a node's
/// parent is always the one at depth − 1 (<see cref="ConstraintMatcher"/>). Built once per tokenizer and shared.
/// Special tokens and ids with no bytes are left out: a constraint never allows them (EOS is handled apart).
/// </summary>
internal sealed class TokenTrie
{
    private static readonly ConditionalWeakTable<TextTokenizer, TokenTrie> Cache = new();

    public TokenTrie(IReadOnlyList<byte[]?> tokenBytes)
    {
        TokenCount = tokenBytes.Count;
        var ids = new List<int>(tokenBytes.Count);
        for (int id = 0; id < tokenBytes.Count; id++)
            if (tokenBytes[id] is { Length: > 0 })
                ids.Add(id);
        ids.Sort((x, y) =>
        {
            int c = tokenBytes[x].AsSpan().SequenceCompareTo(tokenBytes[y]);
            return c != 0 ? c : x.CompareTo(y);
        });

        var label = new List<byte> { 0 };
        var depth = new List<int> { 0 };
        var tokenStart = new List<int> { 0 };
        var tokens = new List<int>(ids.Count);
        // Preorder: tokens sorted by bytes share their common prefix with the previous token's path.
        var path = new List<byte>();
        foreach (int id in ids)
        {
            byte[] bytes = tokenBytes[id]!;
            int common = 0;
            while (common < path.Count && common < bytes.Length && path[common] == bytes[common])
                common++;
            path.RemoveRange(common, path.Count - common);
            for (int d = common; d < bytes.Length; d++)
            {
                path.Add(bytes[d]);
                label.Add(bytes[d]);
                depth.Add(d + 1);
                tokenStart.Add(tokens.Count);
            }
            tokens.Add(id); // ends at the last node added (or at the current path's end for a duplicate)
        }
        tokenStart.Add(tokens.Count);

        Label = [.. label];
        Depth = [.. depth];
        TokenStart = [.. tokenStart];
        TokenIds = [.. tokens];
        SubtreeEnd = new int[Label.Length];
        var open = new Stack<int>();
        for (int i = 0; i < Label.Length; i++)
        {
            while (open.Count > 0 && Depth[open.Peek()] >= Depth[i])
                SubtreeEnd[open.Pop()] = i;
            open.Push(i);
        }
        while (open.Count > 0)
            SubtreeEnd[open.Pop()] = Label.Length;
        MaxDepth = Depth.Length == 0 ? 0 : Depth.Max();
    }

    /// <summary>The trie of a tokenizer's ordinary tokens, built on first use and kept as long as the tokenizer.</summary>
    public static TokenTrie For(TextTokenizer tokenizer) => Cache.GetValue(tokenizer, t =>
    {
        var bytes = new byte[]?[t.VocabSize];
        for (int id = 0; id < bytes.Length; id++)
            if (!t.IsSpecialToken(id))
                bytes[id] = t.TokenBytes(id).ToArray();
        return new TokenTrie(bytes);
    });

    /// <summary>Ids 0..TokenCount−1 were considered (the tokenizer's vocabulary).</summary>
    public int TokenCount { get; }
    public int NodeCount => Label.Length;
    public int MaxDepth { get; }

    public byte[] Label { get; }
    public int[] Depth { get; }
    public int[] SubtreeEnd { get; }
    /// <summary>Tokens ending at node i are TokenIds[TokenStart[i]..TokenStart[i + 1]].</summary>
    public int[] TokenStart { get; }
    public int[] TokenIds { get; }
}
