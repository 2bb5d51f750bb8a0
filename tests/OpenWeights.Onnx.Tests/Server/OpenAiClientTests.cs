using System.ClientModel;
using System.Text;
using OpenAI;
using OpenAI.Chat;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>The official OpenAI .NET client, pointed at the server, works unchanged: chat, streaming, seeded sampling.</summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class OpenAiClientTests
{
    private const string Key = "sk-owonnx-client-test";
    private const string UserMessage = "Tell me a fortune.";
    private static TestServer _server = null!;
    private static ChatClient _client = null!;

    [ClassInitialize]
    public static async Task StartAsync(TestContext _)
    {
        _server = await TestServer.StartAsync(o => o with { ApiKey = Key });
        _client = new ChatClient(TestServer.ModelId, new ApiKeyCredential(Key),
            new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1"), NetworkTimeout = TimeSpan.FromMinutes(2) });
    }

    [ClassCleanup]
    public static async Task StopAsync() => await _server.DisposeAsync();

    [TestMethod]
    public async Task ChatGivesTheSameTextAsRunChat()
    {
        var expected = AloneGeneration.Chat(UserMessage, new GenerationOptions { MaxNewTokens = 30 });
        ChatCompletion completion = await _client.CompleteChatAsync([new UserChatMessage(UserMessage)],
            new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 30 });

        Assert.AreEqual(expected.Text, completion.Content.Single().Text);
        Assert.AreEqual(ChatMessageRole.Assistant, completion.Role);
        Assert.AreEqual(expected.FinishReason == FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length, completion.FinishReason);
        Assert.AreEqual(TestServer.ModelId, completion.Model);
        StringAssert.StartsWith(completion.Id, "chatcmpl-");
        Assert.AreEqual(expected.Stats.PromptTokens, completion.Usage.InputTokenCount);
        Assert.AreEqual(expected.TokenIds.Count, completion.Usage.OutputTokenCount);
        Assert.AreEqual(expected.Stats.PromptTokens + expected.TokenIds.Count, completion.Usage.TotalTokenCount);
    }

    [TestMethod]
    public async Task StreamingChatGivesTheSameTextAndUsage()
    {
        var expected = AloneGeneration.Chat(UserMessage, new GenerationOptions { MaxNewTokens = 30 });
        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (var update in _client.CompleteChatStreamingAsync([new UserChatMessage(UserMessage)],
                           new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 30 }))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.IsTrue(updates > 3, $"{updates} updates");
        Assert.AreEqual(expected.Text, text.ToString());
        Assert.AreEqual(expected.FinishReason == FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length, finish);
        Assert.IsNotNull(usage, "the client asks for usage in the stream");
        Assert.AreEqual(expected.TokenIds.Count, usage.OutputTokenCount);
    }

    [TestMethod]
    public async Task TheSameSeedGivesTheSameSample()
    {
#pragma warning disable OPENAI001 // Seed is marked experimental in the client.
        ChatCompletionOptions Options(long seed) => new() { Temperature = 1f, TopP = 0.95f, Seed = seed, MaxOutputTokenCount = 24 };
#pragma warning restore OPENAI001
        var messages = new OpenAI.Chat.ChatMessage[] { new SystemChatMessage("Be wise."), new UserChatMessage(UserMessage) };
        string first = (await _client.CompleteChatAsync(messages, Options(42))).Value.Content.Single().Text;
        string second = (await _client.CompleteChatAsync(messages, Options(42))).Value.Content.Single().Text;
        Assert.IsFalse(string.IsNullOrEmpty(first));
        Assert.AreEqual(first, second);

        // Different seeds explore: at least one of a few differs from the seed-42 text.
        var others = new List<string>();
        foreach (long seed in (long[])[1, 2, 3])
            others.Add((await _client.CompleteChatAsync(messages, Options(seed))).Value.Content.Single().Text);
        Assert.IsTrue(others.Any(o => o != first), "sampling with other seeds gave the same text every time");
    }

    [TestMethod]
    public async Task AWrongKeyIsRefusedAsTheClientExpects()
    {
        var wrong = new ChatClient(TestServer.ModelId, new ApiKeyCredential("sk-wrong"),
            new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });
        var e = await Assert.ThrowsAsync<ClientResultException>(() => wrong.CompleteChatAsync([new UserChatMessage("Hi")]));
        Assert.AreEqual(401, e.Status);
    }
}
