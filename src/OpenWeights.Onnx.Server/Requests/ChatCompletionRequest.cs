using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Requests;

/// <summary>A POST /v1/chat/completions body: the conversation (text only) and the generation parameters.</summary>
internal sealed record ChatCompletionRequest(RequestParameters Parameters, IReadOnlyList<ChatMessage> Messages)
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static ChatCompletionRequest Parse(JsonElement body)
    {
        var f = JsonFields.Root(body);
        var parameters = RequestParameters.Parse(f, chat: true);
        foreach (string unsupported in (string[])["tools", "functions"])
            if (f.Get(unsupported) is { } v && !(v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0))
                throw OpenAiException.Unsupported(unsupported, $"'{unsupported}' (tool calling) is not supported by this server.");
        return new ChatCompletionRequest(parameters, ParseMessages(f));
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
            string content = ParseContent(message);
            // The newer "developer" role is the system prompt for chat templates, which know only "system".
            result.Add(new ChatMessage(role == "developer" ? "system" : role, content));
        }
        return result;
    }

    private static string ParseContent(JsonFields message)
    {
        string path = message.PathOf("content");
        switch (message.Get("content"))
        {
            case null:
                throw OpenAiException.BadRequest($"Missing required parameter: '{path}' (tool calls are not supported, so every message needs text).",
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
