using System.ClientModel;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;
using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Server;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// One base served with two run-time adapters (a derived adapter for the sample at scale 1, and the same adapter at
/// scale 0.5), through the official OpenAI .NET client: each id is listed, and concurrent requests — sharing decode
/// batches — are each answered by the adapter they named, i.e. exactly as the adapter merged into its own FP32
/// model (an independent path) answers the same chat alone.
/// </summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class LoraServerTests
{
    private const string UserMessage = "Tell me a fortune.";
    private const int MaxTokens = 24;
    private static readonly string[] Ids = [TestServer.ModelId, "fortune-lora", "fortune-lora-half"];
    private static TestServer _server = null!;
    private static OpenAIClient _client = null!;
    private static Dictionary<string, string> _expected = null!;
    private static Dictionary<string, string> _folders = null!;

    [ClassInitialize]
    public static async Task StartAsync(TestContext _)
    {
        string peft = DerivedAdapter.Write(TestFixtures.FortuneLlama, rank: 8, alpha: 16, seed: 15, sigma: 0.1f);
        string scratch = TestFixtures.Scratch("lora-server");
        var converter = new ModelConverter(KnownFamilies.All);
        string baseFolder = Path.Combine(scratch, TestServer.ModelId);
        converter.Convert(TestFixtures.FortuneLlama, baseFolder, new ConversionOptions { AdapterInputs = true });
        string full = Path.Combine(scratch, "full.safetensors"), half = Path.Combine(scratch, "half.safetensors");
        AdapterPreparation.Prepare(peft, baseFolder, full);
        AdapterPreparation.Prepare(peft, baseFolder, half, scale: 0.5f);

        _expected = new Dictionary<string, string> { [Ids[0]] = AloneChat(baseFolder) };
        _folders = new Dictionary<string, string> { [Ids[0]] = baseFolder };
        foreach (var (id, scale) in new[] { (Ids[1], 1f), (Ids[2], 0.5f) })
        {
            string merged = Path.Combine(scratch, "merged-" + id);
            converter.Convert(TestFixtures.FortuneLlama, merged, new ConversionOptions { Adapters = [new AdapterMerge(peft, scale)] });
            _expected[id] = AloneChat(merged);
            _folders[id] = merged;
        }

        _server = await TestServer.StartAsync(o => o with
        {
            ModelDirectory = baseFolder,
            ModelName = Ids[0],
            Adapters = [new ServedAdapterOption(Ids[1], full), new ServedAdapterOption(Ids[2], half)],
        });
        _client = new OpenAIClient(new ApiKeyCredential("unused"),
            new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1"), NetworkTimeout = TimeSpan.FromMinutes(2) });
    }

    [ClassCleanup]
    public static async Task StopAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
    }

    private static string AloneChat(string folder)
    {
        var tokenizer = TextTokenizer.FromFolder(folder);
        using var model = LanguageModel.Load(folder);
        using var generator = new TextGenerator(model, tokenizer);
        using var chat = new ChatSession(generator, ChatTemplate.ForModel(folder, tokenizer.ChatTemplate));
        return string.Concat(chat.Send(UserMessage, new GenerationOptions { MaxNewTokens = MaxTokens }).Select(c => c.Text));
    }

    [TestMethod]
    public async Task TheBaseAndEachAdapterAreListedAsModels()
    {
        OpenAIModelCollection models = await _client.GetOpenAIModelClient().GetModelsAsync();
        CollectionAssert.AreEquivalent(Ids, models.Select(m => m.Id).ToArray());
        OpenAIModel one = await _client.GetOpenAIModelClient().GetModelAsync(Ids[2]);
        Assert.AreEqual(Ids[2], one.Id);
    }

    [TestMethod]
    public async Task ConcurrentRequestsAreEachAnsweredByTheAdapterTheyNamed()
    {
        Assert.AreEqual(Ids.Length, _expected.Values.Distinct().Count(),
            "the base and the two adapters must answer differently, or this test could not tell them apart:\n" + string.Join("\n", _expected));
        // Twice each, interleaved, all at once: with 4 slots, rows of different adapters decode in the same steps.
        var requests = Ids.Concat(Ids.Reverse()).Select(async id =>
        {
            ChatCompletion completion = await _client.GetChatClient(id).CompleteChatAsync([new UserChatMessage(UserMessage)],
                new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = MaxTokens });
            return (id, completion);
        }).ToList();
        foreach (var (id, completion) in await Task.WhenAll(requests))
        {
            Assert.AreEqual(id, completion.Model);
            Assert.AreEqual(_expected[id], completion.Content.Single().Text, $"model '{id}'");
        }
    }

    [TestMethod]
    public async Task APromptPrefixIsReusedOnlyUnderTheAdapterThatComputedIt()
    {
        var window = HeldoutWindow.Load();
        async Task<(string Text, int Cached)> CompleteAsync(string id, int length, int maxTokens)
        {
            var (status, body) = await _server.PostAsync("/v1/completions", System.Text.Json.JsonSerializer.Serialize(
                new { model = id, prompt = window.Prefix(length), max_tokens = maxTokens, temperature = 0 }));
            Assert.AreEqual(System.Net.HttpStatusCode.OK, status, body.ToString());
            return (body.GetProperty("choices")[0].GetProperty("text").GetString()!,
                body.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
        }
        string Alone(string id)
        {
            using var model = LanguageModel.Load(_folders[id]);
            using var generator = new TextGenerator(model, TextTokenizer.FromFolder(_folders[id]));
            return generator.Generate(window.Prefix(200), new GenerationOptions { MaxNewTokens = 8 }).Text;
        }

        // The base reads 150 tokens (max_tokens 1: its slot then holds exactly them).
        Assert.AreEqual(0, (await CompleteAsync(Ids[0], 150, 1)).Cached);
        // The adapter may not take them: its keys and values differ. It reads all 200 and answers as its merged model.
        var adapted = await CompleteAsync(Ids[1], 200, 8);
        Assert.AreEqual(0, adapted.Cached, "keys computed by the base model reused under an adapter");
        Assert.AreEqual(Alone(Ids[1]), adapted.Text);
        // Under its own adapter the prefix is reused, with the same answer; the base still finds its own.
        var again = await CompleteAsync(Ids[1], 200, 8);
        Assert.AreEqual(199, again.Cached);
        Assert.AreEqual(adapted.Text, again.Text);
        var baseAgain = await CompleteAsync(Ids[0], 200, 8);
        Assert.AreEqual(150, baseAgain.Cached);
        Assert.AreEqual(Alone(Ids[0]), baseAgain.Text);
    }

    [TestMethod]
    public async Task AnUnknownAdapterIdIs404()
    {
        var e = await Assert.ThrowsExactlyAsync<ClientResultException>(() =>
            _client.GetChatClient("fortune-lora-typo").CompleteChatAsync([new UserChatMessage(UserMessage)]));
        Assert.AreEqual(404, e.Status);
    }
}
