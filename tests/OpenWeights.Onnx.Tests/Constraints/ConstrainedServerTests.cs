using System.ClientModel;
using System.Net;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Constraints;

/// <summary>
/// <c>response_format</c> and <c>logit_bias</c> over HTTP: sampled answers validate against their schema (whole,
/// streamed, and through the official OpenAI .NET client), and a ±100 bias forces or bans a token.
/// </summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class ConstrainedServerTests
{
    private static TestServer _server = null!;
    private static readonly string Schema = ConstrainedGenerationTests.Schemas[0]; // at most ~60 bytes
    private const string Messages = "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a fortune.\"}]";

    [ClassInitialize]
    public static async Task StartAsync(TestContext _) => _server = await TestServer.StartAsync();

    [ClassCleanup]
    public static async Task StopAsync() => await _server.DisposeAsync();

    private static string JsonSchemaFormat(string schema) =>
        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"fortune\",\"strict\":true,\"schema\":" + schema + "}}";

    private static string Body(string parameters) =>
        "{\"model\":\"fortune-llama\"," + Messages + "," + parameters + ",\"response_format\":" + JsonSchemaFormat(Schema) + "}";

    [TestMethod]
    public async Task ChatJsonSchemaAnswersValidate()
    {
        for (int seed = 0; seed < 4; seed++)
        {
            var (status, body) = await _server.PostAsync("/v1/chat/completions",
                Body($"\"max_tokens\":100,\"temperature\":1,\"seed\":{seed}"));
            Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
            var choice = body.GetProperty("choices")[0];
            string text = choice.GetProperty("message").GetProperty("content").GetString()!;
            Assert.AreEqual("stop", choice.GetProperty("finish_reason").GetString(), text);
            Assert.IsNull(SchemaValidation.Problem(Schema, text), text);
        }
    }

    [TestMethod]
    public async Task StreamedJsonSchemaAnswerValidatesAndCompletionsTakeJsonObject()
    {
        using var response = await _server.PostStreamAsync("/v1/chat/completions",
            Body("\"max_tokens\":100,\"temperature\":1,\"seed\":9,\"stream\":true"));
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        string text = ServerSentEvents.ChatText(await ServerSentEvents.ReadAllAsync(response));
        Assert.IsNull(SchemaValidation.Problem(Schema, text), text);

        var (status, body) = await _server.PostAsync("/v1/completions",
            """{"model":"fortune-llama","prompt":"A fool and his money","max_tokens":24,"temperature":0,"response_format":{"type":"json_object"}}""");
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        var choice = body.GetProperty("choices")[0];
        string completion = choice.GetProperty("text").GetString()!;
        StringAssert.StartsWith(completion, "{");
        if (choice.GetProperty("finish_reason").GetString() == "stop")
            Assert.AreEqual(JsonValueKind.Object, JsonDocument.Parse(completion).RootElement.ValueKind, completion);
    }

    [TestMethod]
    public async Task OpenAiClientJsonSchemaRequestValidates()
    {
        var client = new ChatClient(TestServer.ModelId, new ApiKeyCredential("unused"),
            new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1"), NetworkTimeout = TimeSpan.FromMinutes(2) });
        ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage("Tell me a fortune.")],
            new ChatCompletionOptions
            {
                Temperature = 1.2f,
#pragma warning disable OPENAI001 // Seed is marked experimental in the client
                Seed = 21,
#pragma warning restore OPENAI001
                MaxOutputTokenCount = 100,
                ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("fortune", BinaryData.FromString(Schema), jsonSchemaIsStrict: true),
            });
        string text = completion.Content.Single().Text;
        Assert.AreEqual(ChatFinishReason.Stop, completion.FinishReason, text);
        Assert.IsNull(SchemaValidation.Problem(Schema, text), text);
    }

    [TestMethod]
    public async Task LogitBiasForcesAndBansOverHttp()
    {
        var tokenizer = TextTokenizer.FromFolder(FortuneReference.ConvertedFp32);
        int forced = tokenizer.Encode(" fortune", addSpecialTokens: false)[0];
        string forcedText = tokenizer.Decode([forced], skipSpecialTokens: true);

        var (status, body) = await _server.PostAsync("/v1/completions",
            "{\"model\":\"fortune-llama\",\"prompt\":\"A fool and his money\",\"max_tokens\":4,\"temperature\":1.5,\"seed\":3,\"logit_bias\":{\"" + forced + "\":100}}");
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        Assert.AreEqual(string.Concat(Enumerable.Repeat(forcedText, 4)), body.GetProperty("choices")[0].GetProperty("text").GetString());

        int greedyFirst = FortuneReference.Greedy()[0].GenerateApiIds[0];
        string prompt = FortuneReference.Greedy()[0].Prompt;
        (status, body) = await _server.PostAsync("/v1/completions",
            "{\"model\":\"fortune-llama\",\"prompt\":" + JsonSerializer.Serialize(prompt) +
            ",\"max_tokens\":1,\"temperature\":0,\"logprobs\":1,\"logit_bias\":{\"" + greedyFirst + "\":-100}}");
        Assert.AreEqual(HttpStatusCode.OK, status, body.ToString());
        string first = body.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("tokens")[0].GetString()!;
        Assert.AreNotEqual(tokenizer.Decode([greedyFirst], skipSpecialTokens: true), first, "the greedy token is banned");
    }
}
