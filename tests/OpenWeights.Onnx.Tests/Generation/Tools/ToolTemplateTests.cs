using System.Text.Json.Nodes;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Generation.Tools;

/// <summary>
/// Tools and tool turns rendered by a real model's template (Qwen3's, from the tokenizer fixture) give exactly what
/// Jinja2 renders with transformers' settings (trim_blocks, lstrip_blocks, its tojson): the expected text below was
/// produced that way (Jinja2 3.1.6) from the same messages and tools.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ToolTemplateTests
{
    private const string Expected =
        "<|im_start|>system\nYou answer briefly.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather in a city.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"c\", \"f\"]}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temperature\": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n";

    private static readonly ToolDefinition Weather = new("get_weather", "Current weather in a city.", (JsonObject)JsonNode.Parse(
        """{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}""")!);

    /// <summary>
    /// Qwen3's template on its own tokenizer. The template engine (onnxruntime-genai's) opens a model folder, so the
    /// tokenizer files go into a scratch folder with the smallest genai_config.json it accepts; no model is needed.
    /// </summary>
    private static ChatTemplate Qwen3()
    {
        string source = TestFixtures.Tokenizers("qwen3");
        string dir = TestFixtures.Scratch("qwen3-template");
        foreach (string file in (string[])["tokenizer.json", "tokenizer_config.json"])
            File.Copy(Path.Combine(source, file), Path.Combine(dir, file), overwrite: true);
        File.WriteAllText(Path.Combine(dir, "genai_config.json"),
            """{"model": {"type": "qwen2", "context_length": 4096, "vocab_size": 151936, "decoder": {"filename": "model.onnx"}}}""");
        return ChatTemplate.ForModel(dir, TextTokenizer.FromFolder(dir).ChatTemplate);
    }

    [TestMethod]
    public void AToolRoundTripRendersAsJinja2RendersIt()
    {
        using var template = Qwen3();
        ChatMessage[] messages =
        [
            new("system", "You answer briefly."),
            new("user", "Weather in Paris?"),
            // As OpenAI clients send it: no text, the arguments as a JSON string.
            new("assistant", null) { ToolCalls = [new ToolCall("call_abc", "get_weather", "{\"city\":\"Paris\",\"unit\":\"c\"}")] },
            new("tool", "{\"temperature\": 21}") { ToolCallId = "call_abc", Name = "get_weather" },
        ];
        Assert.AreEqual(Expected, template.Render(messages, [Weather]));
    }

    [TestMethod]
    public void WithoutToolsTheTemplateOffersNone()
    {
        using var template = Qwen3();
        string text = template.Render([new ChatMessage("user", "Hi")], tools: null);
        Assert.AreEqual("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", text);
        Assert.AreEqual(text, template.Render([new ChatMessage("user", "Hi")], tools: []));
    }
}
