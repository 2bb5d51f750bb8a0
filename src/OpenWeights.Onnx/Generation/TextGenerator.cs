using System.Runtime.CompilerServices;
using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Generation;

/// <summary>One streamed piece of generated text, with the tokens that completed it.</summary>
public readonly record struct TextChunk(string Text, int TokenId, float LogProb);

/// <summary>
/// Text in, text out: tokenizes and runs a <see cref="TokenStream"/>, whose per-sequence core detokenizes
/// incrementally (never half a UTF-8 character) and cuts at stop strings. One generator is one conversation's cache: consecutive
/// prompts that share a prefix reuse it.
/// </summary>
public sealed class TextGenerator : IDisposable
{
    private readonly BatchDecoder _decoder;
    private readonly bool _ownsModel;

    public LanguageModel Model { get; }
    public TextTokenizer Tokenizer { get; }
    public TokenStream Tokens { get; }

    /// <param name="ownsModel">Dispose <paramref name="model"/> with this generator (one generator, one model).</param>
    /// <param name="adapter">A run-time adapter (<c>owonnx adapter</c>) applied to every token; null: the base model.</param>
    public TextGenerator(LanguageModel model, TextTokenizer tokenizer, bool ownsModel = false, AdapterFile? adapter = null)
    {
        Model = model;
        _ownsModel = ownsModel;
        Tokenizer = tokenizer;
        _decoder = model.CreateDecoder(1, adapter?.Rank ?? 0);
        try
        {
            if (adapter is not null)
                _decoder.Adapters!.Assign(0, adapter);
        }
        catch
        {
            _decoder.Dispose();
            throw;
        }
        var eos = model.Config.EosTokenIds.Union(tokenizer.EosTokenIds).ToArray();
        Tokens = new TokenStream(_decoder, eos);
    }

    /// <summary>Streams text for a raw prompt (special tokens such as BOS added as the tokenizer says).</summary>
    public IEnumerable<TextChunk> Stream(string prompt, GenerationOptions options, CancellationToken cancellationToken = default) =>
        Stream(Tokenizer.Encode(prompt, addSpecialTokens: true), options, cancellationToken);

    public IEnumerable<TextChunk> Stream(int[] promptIds, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        Tokens.Start(promptIds, options, Tokenizer);
        while (Tokens.MoveNext(cancellationToken))
            yield return new TextChunk(Tokens.CurrentText, Tokens.Current, Tokens.CurrentLogProb);
        string tail = Tokens.FlushText();
        if (tail.Length > 0)
            yield return new TextChunk(tail, -1, 0);
    }

    public async IAsyncEnumerable<string> StreamAsync(string prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Compute runs on the thread pool so that a UI or request thread is never blocked by a step.
        await Task.Yield();
        foreach (var chunk in Stream(prompt, options, cancellationToken))
            if (chunk.Text.Length > 0)
                yield return chunk.Text;
    }

    public GenerationResult Generate(string prompt, GenerationOptions options, CancellationToken cancellationToken = default) =>
        Collect(Stream(prompt, options, cancellationToken));

    public GenerationResult Generate(int[] promptIds, GenerationOptions options, CancellationToken cancellationToken = default) =>
        Collect(Stream(promptIds, options, cancellationToken));

    private GenerationResult Collect(IEnumerable<TextChunk> chunks)
    {
        var text = new System.Text.StringBuilder();
        var ids = new List<int>();
        foreach (var chunk in chunks)
        {
            text.Append(chunk.Text);
            if (chunk.TokenId >= 0) ids.Add(chunk.TokenId);
        }
        return new GenerationResult(text.ToString(), ids, Tokens.Finish ?? FinishReason.Length, Tokens.Stats);
    }

    public void Dispose()
    {
        _decoder.Dispose();
        if (_ownsModel)
            Model.Dispose();
    }
}
