using System.Text.Json;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Generation.Tools;

namespace OpenWeights.Onnx.Generation;

/// <summary>
/// A conversation as chat templates read it (the shape transformers passes): role and content (an assistant turn that
/// only called tools has "": templates such as Qwen3's test <c>'&lt;/think&gt;' in message.content</c>, which fails on null), an assistant's <c>tool_calls</c> with their arguments as an object (templates write
/// them with <c>tojson</c>), a tool turn's <c>tool_call_id</c> and <c>name</c>.
/// </summary>
internal static class TemplateMessages
{
    /// <param name="mistralIds">Write call ids as the 9 letters and digits Mistral's templates insist on.</param>
    public static string ToJson(IReadOnlyList<ChatMessage> messages, bool mistralIds)
    {
        var array = new JsonArray();
        foreach (var m in messages)
        {
            var o = new JsonObject { ["role"] = m.Role, ["content"] = m.Content ?? "" };
            if (m.ToolCalls.Count > 0)
                o["tool_calls"] = new JsonArray(m.ToolCalls.Select(c => (JsonNode)new JsonObject
                {
                    ["id"] = mistralIds ? ToolCallIds.ForMistral(c.Id) : c.Id,
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = ArgumentsNode(c.Arguments) },
                }).ToArray());
            if (m.ToolCallId is not null)
                o["tool_call_id"] = mistralIds ? ToolCallIds.ForMistral(m.ToolCallId) : m.ToolCallId;
            if (m.Name is not null)
                o["name"] = m.Name;
            array.Add(o);
        }
        return array.ToJsonString();
    }

    /// <summary>Arguments that are a JSON object go in as the object; anything else as the string it is.</summary>
    private static JsonNode? ArgumentsNode(string arguments)
    {
        try
        {
            if (JsonNode.Parse(arguments) is JsonObject o)
                return o;
        }
        catch (JsonException)
        {
        }
        return JsonValue.Create(arguments);
    }
}
