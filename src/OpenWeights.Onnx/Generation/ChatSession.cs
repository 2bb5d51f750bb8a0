namespace OpenWeights.Onnx.Generation;

/// <summary>
/// A conversation rendered through the model's chat template. Each turn re-renders the whole history, and
/// the generator's cache reuse makes that cost only the new tokens.
/// </summary>
public sealed class ChatSession(TextGenerator generator, ChatTemplate template, string? systemPrompt = null) : IDisposable
{
    private readonly List<ChatMessage> _messages = systemPrompt is null ? [] : [new ChatMessage("system", systemPrompt)];

    public IReadOnlyList<ChatMessage> Messages => _messages;

    /// <summary>Adds the user's message and streams the assistant's reply; the reply joins the history.</summary>
    public IEnumerable<TextChunk> Send(string userMessage, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        _messages.Add(new ChatMessage("user", userMessage));
        string prompt = template.Render(_messages, addGenerationPrompt: true);
        // The template writes any BOS itself; special tokens in the text become their ids.
        var ids = generator.Tokenizer.Encode(prompt, addSpecialTokens: false);
        var reply = new System.Text.StringBuilder();
        foreach (var chunk in generator.Stream(ids, options, cancellationToken))
        {
            reply.Append(chunk.Text);
            yield return chunk;
        }
        _messages.Add(new ChatMessage("assistant", reply.ToString()));
    }

    public void Dispose() => template.Dispose();
}
