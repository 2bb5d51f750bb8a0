using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Server;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// The real server (Kestrel) in this process on a free loopback port, serving the converted sample model, with an
/// HttpClient for it. Started and ready (model loaded) when <see cref="StartAsync"/> returns.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    public const string ModelId = "fortune-llama";

    private TestServer(OpenAiServer server, HttpClient http)
    {
        Server = server;
        Http = http;
    }

    public OpenAiServer Server { get; }
    public HttpClient Http { get; }
    public Uri BaseAddress => Server.BaseAddress;

    public static async Task<TestServer> StartAsync(Func<ServerOptions, ServerOptions>? configure = null)
    {
        var options = new ServerOptions
        {
            ModelDirectory = FortuneReference.ConvertedFp32,
            Host = "127.0.0.1",
            Port = 0,
            MaxBatch = 4,
            MaxQueue = 16,
            HandleSignals = false,
            ConsoleLogging = false,
            StopOnLoadFailure = false,
            ShutdownTimeout = TimeSpan.FromSeconds(10),
        };
        if (configure is not null)
            options = configure(options);
        var server = OpenAiServer.Create(options);
        await server.StartAsync();
        await server.Model.Ready.WaitAsync(TimeSpan.FromMinutes(2));
        // No draining on dispose: a test that disposes a half-read response means "the client hung up", and
        // SocketsHttpHandler would otherwise quietly read up to 1 MB for 2 s to reuse the connection.
        var handler = new SocketsHttpHandler { MaxResponseDrainSize = 0, ResponseDrainTimeout = TimeSpan.Zero };
        var http = new HttpClient(handler) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(3) };
        if (options.ApiKey is { } key)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return new TestServer(server, http);
    }

    public async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string path, string json, CancellationToken cancellationToken = default)
    {
        using var response = await Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), cancellationToken);
        return (response.StatusCode, await ReadJsonAsync(response));
    }

    public async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        return (response.StatusCode, await ReadJsonAsync(response));
    }

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync();
        try
        {
            return JsonDocument.Parse(text).RootElement.Clone();
        }
        catch (JsonException)
        {
            Assert.Fail($"response {(int)response.StatusCode} is not JSON: {text}");
            throw;
        }
    }

    /// <summary>Sends a streaming request and returns the open response (headers read, body not yet).</summary>
    public async Task<HttpResponseMessage> PostStreamAsync(string path, string json, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        return await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Server.StopAsync(timeout.Token);
        await Server.DisposeAsync();
    }
}
