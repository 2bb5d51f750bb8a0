using System.Text.Json;
using System.Text.Json.Nodes;
using GenAiTokenizer = Microsoft.ML.OnnxRuntimeGenAI.Tokenizer;

namespace OpenWeights.Onnx.Generation;

/// <summary>
/// Renders a conversation with the model's own Jinja <c>chat_template</c> (from tokenizer_config.json),
/// through onnxruntime-genai's template engine: a real Jinja implementation rather than an imitation of
/// a few known templates.
/// </summary>
public sealed class ChatTemplate : IDisposable
{
    private readonly GenAiTokenizer _engine;
    private readonly string _template;

    public ChatTemplate(string modelDirectory, string template)
    {
        _template = template;
        _engine = new GenAiTokenizer(modelDirectory);
    }

    /// <summary>The folder's template, or a clear error when the model has none.</summary>
    public static ChatTemplate ForModel(string modelDirectory, string? template)
    {
        if (string.IsNullOrEmpty(template))
            throw new InvalidOperationException(
                $"{modelDirectory}: the model has no chat_template in tokenizer_config.json; use a raw prompt instead of chat.");
        return new ChatTemplate(modelDirectory, template);
    }

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        var array = new JsonArray(messages
            .Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content })
            .ToArray());
        return _engine.ApplyChatTemplate(_template, array.ToJsonString(), null, addGenerationPrompt);
    }

    public void Dispose() => _engine.Dispose();
}
