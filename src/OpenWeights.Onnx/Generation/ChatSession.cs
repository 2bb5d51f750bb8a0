namespace OpenWeights.Onnx.Generation;

/// <summary>
/// A conversation rendered through the model's chat template. Each turn re-renders the whole history, and
/// the generator's cache reuse makes that cost only the new tokens. When the history no longer fits the
/// cache (with room for the reply), the oldest turns are dropped — the system prompt is always kept — and
/// <see cref="DroppedMessages"/> says how many went for the latest turn.
/// </summary>
public sealed class ChatSession(TextGenerator generator, ChatTemplate template, string? systemPrompt = null) : IDisposable
{
    private readonly List<ChatMessage> _messages = systemPrompt is null ? [] : [new ChatMessage("system", systemPrompt)];

    public IReadOnlyList<ChatMessage> Messages => _messages;

    /// <summary>Messages (user and assistant) dropped from the start of the history to make the latest turn fit.</summary>
    public int DroppedMessages { get; private set; }

    /// <summary>Forgets every turn; the system prompt stays.</summary>
    public void Clear() => _messages.RemoveAll(m => m.Role != "system");

    /// <summary>Replaces the system prompt (null removes it); the turns stay.</summary>
    public void SetSystemPrompt(string? prompt)
    {
        _messages.RemoveAll(m => m.Role == "system");
        if (prompt is not null)
            _messages.Insert(0, new ChatMessage("system", prompt));
    }

    /// <summary>Adds the user's message and streams the assistant's reply; the reply joins the history.</summary>
    /// <exception cref="Runtime.ContextOverflowException">The system prompt and this message alone do not fit (the message is not kept).</exception>
    public IEnumerable<TextChunk> Send(string userMessage, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        _messages.Add(new ChatMessage("user", userMessage));
        int[] ids = FitToCache(options.MaxNewTokens);
        var reply = new System.Text.StringBuilder();
        foreach (var chunk in generator.Stream(ids, options, cancellationToken))
        {
            reply.Append(chunk.Text);
            yield return chunk;
        }
        _messages.Add(new ChatMessage("assistant", reply.ToString()));
    }

    /// <summary>The prompt of the whole history, after dropping the oldest turns until it fits with room for the reply.</summary>
    private int[] FitToCache(int maxNewTokens)
    {
        DroppedMessages = 0;
        int budget = generator.Tokens.MaxLength - maxNewTokens;
        while (true)
        {
            // The template writes any BOS itself; special tokens in the text become their ids.
            var ids = generator.Tokenizer.Encode(template.Render(_messages, addGenerationPrompt: true), addSpecialTokens: false);
            int first = _messages.FindIndex(m => m.Role != "system");
            bool onlyTheNewMessage = first == _messages.Count - 1;
            if (ids.Length <= budget || onlyTheNewMessage)
            {
                if (ids.Length > budget)
                {
                    _messages.RemoveAt(_messages.Count - 1);
                    throw new Runtime.ContextOverflowException(ids.Length + maxNewTokens, generator.Tokens.MaxLength);
                }
                return ids;
            }
            // Drop the oldest turn: its user message and the replies up to the next user message.
            int next = _messages.FindIndex(first + 1, m => m.Role == "user");
            int count = (next < 0 ? _messages.Count - 1 : next) - first;
            _messages.RemoveRange(first, count);
            DroppedMessages += count;
        }
    }

    public void Dispose() => template.Dispose();
}
