using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Requests;

/// <summary>A POST /v1/chat/completions body: the conversation (text, tool calls and their results), the tools, and the generation parameters.</summary>
internal sealed record ChatCompletionRequest(RequestParameters Parameters, IReadOnlyList<ChatMessage> Messages, ToolRequest Tools)
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static ChatCompletionRequest Parse(JsonElement body)
    {
        var f = JsonFields.Root(body);
        var parameters = RequestParameters.Parse(f, chat: true);
        foreach (string legacy in (string[])["functions", "function_call"])
            if (f.Has(legacy))
                throw OpenAiException.Unsupported(legacy, $"'{legacy}' (the deprecated form of tool calling) is not supported; use 'tools' and 'tool_choice'.");
        var tools = ToolRequest.Parse(f);
        return new ChatCompletionRequest(parameters, ParseMessages(f), tools);
    }

    private static List<ChatMessage> ParseMessages(JsonFields f)
    {
        var messages = f.Get("messages") ?? throw OpenAiException.BadRequest(
            "Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        if (messages.ValueKind != JsonValueKind.Array)
            throw OpenAiException.InvalidType("messages", "an array", JsonFields.Describe(messages));
        if (messages.GetArrayLength() == 0)
            throw OpenAiException.BadRequest(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                "messages", "empty_array");

        var result = new List<ChatMessage>();
        int i = 0;
        foreach (var item in messages.EnumerateArray())
        {
            string path = $"messages[{i++}]";
            var message = JsonFields.Object(item, path);
            string role = message.RequiredString("role");
            if (!Roles.Contains(role))
                throw OpenAiException.InvalidValue(message.PathOf("role"),
                    $"'{role}' is not one of {string.Join(", ", Roles.Select(r => $"'{r}'"))}.");
            var toolCalls = role == "assistant" ? ParseToolCalls(message) : [];
            // An assistant turn that called tools may have no text (OpenAI clients send null).
            string? content = toolCalls.Count > 0 && !message.Has("content") ? null : ParseContent(message);
            string? toolCallId = null;
            if (role == "tool")
                toolCallId = message.RequiredString("tool_call_id");
            // The newer "developer" role is the system prompt for chat templates, which know only "system".
            result.Add(new ChatMessage(role == "developer" ? "system" : role, content)
            {
                ToolCalls = toolCalls,
                ToolCallId = toolCallId,
                Name = message.String("name"),
            });
        }
        return result;
    }

    private static List<ToolCall> ParseToolCalls(JsonFields message)
    {
        var calls = new List<ToolCall>();
        if (message.Get("tool_calls") is not { } array)
            return calls;
        if (array.ValueKind != JsonValueKind.Array)
            throw OpenAiException.InvalidType(message.PathOf("tool_calls"), "an array", JsonFields.Describe(array));
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            var call = JsonFields.Object(item, $"{message.PathOf("tool_calls")}[{i++}]");
            string type = call.RequiredString("type");
            if (type != "function")
                throw OpenAiException.InvalidValue(call.PathOf("type"), $"'{type}' is not supported; expected 'function'.");
            var function = call.Get("function") is { } fn
                ? JsonFields.Object(fn, call.PathOf("function"))
                : throw OpenAiException.BadRequest($"Missing required parameter: '{call.PathOf("function")}'.", call.PathOf("function"), "missing_required_parameter");
            calls.Add(new ToolCall(call.RequiredString("id"), function.RequiredString("name"), function.RequiredString("arguments")));
        }
        return calls;
    }

    private static string ParseContent(JsonFields message)
    {
        string path = message.PathOf("content");
        switch (message.Get("content"))
        {
            case null:
                throw OpenAiException.BadRequest($"Missing required parameter: '{path}' (only an assistant message with tool_calls may leave it out).",
                    path, "missing_required_parameter");
            case { ValueKind: JsonValueKind.String } s:
                return JsonFields.AsString(s, path);
            case { ValueKind: JsonValueKind.Array } parts:
            {
                var text = new StringBuilder();
                int i = 0;
                foreach (var item in parts.EnumerateArray())
                {
                    var part = JsonFields.Object(item, $"{path}[{i}]");
                    string type = part.RequiredString("type");
                    if (type != "text")
                        throw OpenAiException.Unsupported(part.PathOf("type"), $"Content part type '{type}' is not supported; only 'text'.");
                    if (i++ > 0)
                        text.Append('\n');
                    text.Append(part.RequiredString("text"));
                }
                return text.ToString();
            }
            case { } other:
                throw OpenAiException.InvalidType(path, "a string or an array of content parts", JsonFields.Describe(other));
        }
    }
}
