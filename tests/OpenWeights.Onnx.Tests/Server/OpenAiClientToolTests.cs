using System.ClientModel;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// The official OpenAI .NET client (2.15.0) does a full tool round trip against the server, whole and streamed: a
/// forced call of the declared function (the tiny sample never calls tools by itself), the tool's result sent back
/// in the client's own message types, and a final text answer. Served with the tools-aware fixture template. And a
/// json_schema response format, whose answer parses and follows the schema.
/// </summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class OpenAiClientToolTests
{
    private static TestServer _server = null!;
    private static ChatClient _client = null!;

    private static readonly ChatTool Forecast = ChatTool.CreateFunctionTool("get_forecast", "Forecast for a city.", BinaryData.FromString(
        """{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Oslo"]},"days":{"type":"integer","enum":[1,3]},"metric":{"type":"boolean"}},"required":["city","days","metric"],"additionalProperties":false}"""));

    [ClassInitialize]
    public static async Task StartAsync(TestContext _)
    {
        _server = await TestServer.StartAsync(o => o with { ChatTemplateFile = ServerToolCallTests.ToolsTemplate });
        _client = new ChatClient(TestServer.ModelId, new ApiKeyCredential("unused"),
            new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1"), NetworkTimeout = TimeSpan.FromMinutes(2) });
    }

    [ClassCleanup]
    public static async Task StopAsync() => await _server.DisposeAsync();

    private static ChatCompletionOptions Options(ChatToolChoice choice, int maxTokens) => new()
    {
        Temperature = 0,
        MaxOutputTokenCount = maxTokens,
        Tools = { Forecast },
        ToolChoice = choice,
    };

    [TestMethod]
    public async Task AToolRoundTripEndsInATextAnswer()
    {
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("What is the forecast in Paris?")];
        ChatCompletion call = await _client.CompleteChatAsync(messages, Options(ChatToolChoice.CreateFunctionChoice("get_forecast"), 150));

        Assert.AreEqual(ChatFinishReason.ToolCalls, call.FinishReason);
        var toolCall = call.ToolCalls.Single();
        Assert.AreEqual(ChatToolCallKind.Function, toolCall.Kind);
        Assert.AreEqual("get_forecast", toolCall.FunctionName);
        StringAssert.StartsWith(toolCall.Id, "call_");
        ServerToolCallTests.AssertForecastArguments(toolCall.FunctionArguments.ToString());

        messages.Add(new AssistantChatMessage(call));
        messages.Add(new ToolChatMessage(toolCall.Id, """{"forecast": "sunny", "high": 24}"""));
        ChatCompletion answer = await _client.CompleteChatAsync(messages, Options(ChatToolChoice.CreateAutoChoice(), 30));

        Assert.IsEmpty(answer.ToolCalls);
        Assert.IsFalse(string.IsNullOrWhiteSpace(answer.Content.Single().Text));
        Assert.IsTrue(answer.FinishReason is ChatFinishReason.Stop or ChatFinishReason.Length, answer.FinishReason.ToString());
        // The call and its result are in the prompt: longer than the question alone with the same tools.
        Assert.IsGreaterThan(call.Usage.InputTokenCount + 20, answer.Usage.InputTokenCount);
    }

    [TestMethod]
    public async Task AStreamedToolRoundTripGivesTheSameCallAndAnswer()
    {
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("What is the forecast in Paris?")];
        ChatCompletion whole = await _client.CompleteChatAsync(messages, Options(ChatToolChoice.CreateRequiredChoice(), 150));

        string? id = null, name = null;
        var arguments = new StringBuilder();
        ChatFinishReason? finish = null;
        int argumentUpdates = 0;
        await foreach (var update in _client.CompleteChatStreamingAsync(messages, Options(ChatToolChoice.CreateRequiredChoice(), 150)))
        {
            foreach (var part in update.ContentUpdate)
                Assert.AreEqual("", part.Text, "no call text as content");
            foreach (var t in update.ToolCallUpdates)
            {
                Assert.AreEqual(0, t.Index);
                id ??= t.ToolCallId;
                name ??= t.FunctionName;
                if (t.FunctionArgumentsUpdate is { } fragment && !fragment.ToMemory().IsEmpty)
                {
                    arguments.Append(fragment.ToString());
                    argumentUpdates++;
                }
            }
            finish ??= update.FinishReason;
        }
        Assert.AreEqual(ChatFinishReason.ToolCalls, finish);
        var expected = whole.ToolCalls.Single();
        Assert.AreEqual(expected.FunctionName, name);
        Assert.AreEqual(expected.FunctionArguments.ToString(), arguments.ToString());
        Assert.IsGreaterThan(1, argumentUpdates, "arguments arrive in pieces");
        StringAssert.StartsWith(id, "call_");

        // The client rebuilds the assistant turn from the streamed parts and sends the result back.
        messages.Add(new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall(id!, name!, BinaryData.FromString(arguments.ToString()))]));
        messages.Add(new ToolChatMessage(id!, """{"forecast": "rain"}"""));
        var text = new StringBuilder();
        await foreach (var update in _client.CompleteChatStreamingAsync(messages, Options(ChatToolChoice.CreateAutoChoice(), 30)))
        {
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            Assert.IsEmpty(update.ToolCallUpdates);
        }
        ChatCompletion final = await _client.CompleteChatAsync(messages, Options(ChatToolChoice.CreateAutoChoice(), 30));
        Assert.AreEqual(final.Content.Single().Text, text.ToString());
        Assert.IsFalse(string.IsNullOrWhiteSpace(text.ToString()));
    }

    [TestMethod]
    public async Task ParallelCallsOffGivesOneCall()
    {
        var options = Options(ChatToolChoice.CreateRequiredChoice(), 150);
        options.AllowParallelToolCalls = false;
        ChatCompletion call = await _client.CompleteChatAsync([new UserChatMessage("Forecast for Oslo?")], options);
        Assert.HasCount(1, call.ToolCalls);
        using var arguments = JsonDocument.Parse(call.ToolCalls[0].FunctionArguments.ToString());
        Assert.AreEqual(JsonValueKind.Object, arguments.RootElement.ValueKind);
    }

    internal const string FortuneSchema =
        """{"type":"object","properties":{"mood":{"type":"string","enum":["happy","calm","bold"]},"lucky_number":{"type":"integer"},"omens":{"type":"array","items":{"type":"boolean"},"maxItems":2}},"required":["mood","lucky_number","omens"],"additionalProperties":false}""";

    /// <summary>A document valid against <see cref="FortuneSchema"/>, checked member by member.</summary>
    internal static void AssertFortune(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.AreEqual(JsonValueKind.Object, root.ValueKind, json);
        CollectionAssert.AreEquivalent(new[] { "mood", "lucky_number", "omens" }, root.EnumerateObject().Select(p => p.Name).ToArray(), json);
        CollectionAssert.Contains(new[] { "happy", "calm", "bold" }, root.GetProperty("mood").GetString(), json);
        Assert.IsTrue(root.GetProperty("lucky_number").TryGetInt64(out _), json);
        var omens = root.GetProperty("omens");
        Assert.AreEqual(JsonValueKind.Array, omens.ValueKind, json);
        Assert.IsLessThanOrEqualTo(2, omens.GetArrayLength(), json);
        Assert.IsTrue(omens.EnumerateArray().All(o => o.ValueKind is JsonValueKind.True or JsonValueKind.False), json);
    }

    [TestMethod]
    public async Task AJsonSchemaAnswerParsesAndFollowsTheSchemaWholeAndStreamed()
    {
        var options = new ChatCompletionOptions
        {
            Temperature = 0,
            MaxOutputTokenCount = 120,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("fortune", BinaryData.FromString(FortuneSchema), jsonSchemaIsStrict: true),
        };
        OpenAI.Chat.ChatMessage[] messages = [new UserChatMessage("Tell me a fortune as JSON.")];
        ChatCompletion whole = await _client.CompleteChatAsync(messages, options);
        Assert.AreEqual(ChatFinishReason.Stop, whole.FinishReason);
        AssertFortune(whole.Content.Single().Text);

        var text = new StringBuilder();
        await foreach (var update in _client.CompleteChatStreamingAsync(messages, options))
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
        Assert.AreEqual(whole.Content.Single().Text, text.ToString());
    }
}
