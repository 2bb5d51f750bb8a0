using System.Text.Json.Nodes;
using OpenWeights.Onnx.Generation.Tools;
using Microsoft.ML.OnnxRuntimeGenAI;
using GenAiTokenizer = Microsoft.ML.OnnxRuntimeGenAI.Tokenizer;

namespace OpenWeights.Onnx.Generation;

/// <summary>
/// Renders a conversation with the model's own Jinja <c>chat_template</c> (from tokenizer_config.json),
/// through onnxruntime-genai's template engine: a real Jinja implementation rather than an imitation of
/// a few known templates.
/// <para>
/// The engine is native and unbounded, so a hostile template is stopped before and around it: <see cref="TemplateGuard"/>
/// refuses recursion and bombs when the template is loaded, and each render runs on its own thread (with a large
/// stack) under a time limit and an output limit. A render that overruns is abandoned, never awaited: its thread
/// finishes on its own, and this template refuses further work rather than touch the engine it still uses.
/// </para>
/// </summary>
public sealed class ChatTemplate : IDisposable
{
    /// <summary>Stack of the render thread: far more than any template the guard admits can use.</summary>
    private const int RenderStackBytes = 64 * 1024 * 1024;

    private readonly GenAiTokenizer _engine;
    private readonly string _template;
    private readonly string _modelDirectory;
    private Thread? _runaway;

    /// <summary>Longest a render may take.</summary>
    public TimeSpan TimeLimit { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest rendered prompt, in characters, beyond the conversation's own text.</summary>
    public int OutputAllowance { get; init; } = 1 << 20;

    public ChatTemplate(string modelDirectory, string template)
    {
        if (TemplateGuard.Problem(template) is { } problem)
            throw new ChatTemplateException($"{Source(modelDirectory)}: the chat_template is refused: {problem}.");
        _modelDirectory = modelDirectory;
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

    /// <summary>Renders the conversation; a template error, an overrun or an oversized result is a <see cref="ChatTemplateException"/>.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true) =>
        Render(messages, tools: null, addGenerationPrompt);

    /// <summary>
    /// Renders the conversation with the functions the model may call in the template's <c>tools</c> variable
    /// (null or empty: none, as a template without tools expects).
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition>? tools, bool addGenerationPrompt = true)
    {
        if (_runaway is not null)
            throw new ChatTemplateException($"{Source(_modelDirectory)}: the chat_template ran past its time limit earlier; it is no longer used.");
        string json = TemplateMessages.ToJson(messages, mistralIds: _template.Contains("[TOOL_CALLS]", StringComparison.Ordinal));
        string? toolsJson = tools is { Count: > 0 } ? new JsonArray(tools.Select(t => (JsonNode)t.ToTemplateJson()).ToArray()).ToJsonString() : null;
        // The engine rewrites tools into a flattened form of its own (dropping "required", enums and nesting) unless
        // the template mentions "tool.function"; templates written for transformers expect them as OpenAI sends them.
        string template = toolsJson is null ? _template : _template + "{# tool.function #}";

        string? result = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { result = _engine.ApplyChatTemplate(template, json, toolsJson, addGenerationPrompt); }
            catch (Exception e) { error = e; }
        }, RenderStackBytes) { IsBackground = true, Name = "owonnx chat template" };
        thread.Start();
        if (!thread.Join(TimeLimit))
        {
            _runaway = thread;
            throw new ChatTemplateException(
                $"{Source(_modelDirectory)}: the chat_template did not finish rendering within {TimeLimit.TotalSeconds:0.#} s; fix the template.");
        }
        if (error is OnnxRuntimeGenAIException e)
            throw new ChatTemplateException($"{Source(_modelDirectory)}: the chat_template failed: {FirstLine(e.Message)}", e);
        if (error is not null)
            throw new ChatTemplateException($"{Source(_modelDirectory)}: the chat_template failed: {error.Message}", error);
        long limit = (long)OutputAllowance + 2L * (json.Length + (toolsJson?.Length ?? 0));
        if (result!.Length > limit)
            throw new ChatTemplateException(
                $"{Source(_modelDirectory)}: the chat_template rendered {result.Length} characters for a conversation of {json.Length}; " +
                $"more than {limit} is refused.");
        return result;
    }

    private static string Source(string modelDirectory) => Path.Combine(modelDirectory, "tokenizer_config.json");

    private static string FirstLine(string message)
    {
        int end = message.IndexOf('\n');
        return (end < 0 ? message : message[..end]).Trim();
    }

    public void Dispose()
    {
        // A runaway render still uses the engine: freeing it under that thread would crash, so it is left to the process.
        if (_runaway is null || !_runaway.IsAlive)
            _engine.Dispose();
    }
}

/// <summary>A chat template that is refused, fails, or overruns its limits; the message names the file.</summary>
public sealed class ChatTemplateException(string message, Exception? inner = null) : Exception(message, inner);
