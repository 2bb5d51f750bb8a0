using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary><c>owonnx serve</c> as a real process: it serves, takes its key from the environment, and stops on SIGTERM.</summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class ServeCommandTests
{
    private static int FreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [TestMethod]
    public async Task ServeAnswersThenFinishesInFlightWorkAndExitsOnSigterm()
    {
        int port = FreeLoopbackPort();
        var start = new ProcessStartInfo(OwonnxCli.Path)
        {
            ArgumentList = { "serve", FortuneReference.ConvertedFp32, "--host", "127.0.0.1", "--port", port.ToString(), "--max-batch", "2" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            Environment = { ["ORT_DISABLE_TELEMETRY"] = "1", ["OWONNX_API_KEY"] = "env-key" },
        };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(2) };
            await WaitForHealthAsync(http, process);

            using (var anonymous = await http.PostAsync("/v1/completions", new StringContent("{}")))
                Assert.AreEqual(HttpStatusCode.Unauthorized, anonymous.StatusCode, "the key comes from OWONNX_API_KEY");
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "env-key");

            var reference = FortuneReference.Greedy()[0];
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
            {
                Content = new StringContent(JsonSerializer.Serialize(new { model = "fortune-llama", prompt = reference.Prompt, max_tokens = 40, stream = true }),
                    Encoding.UTF8, "application/json"),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
            var events = new List<string>();
            await using (var reader = ServerSentEvents.ReadAsync(response).GetAsyncEnumerator())
            {
                Assert.IsTrue(await reader.MoveNextAsync());
                events.Add(reader.Current);
                using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                    await kill.WaitForExitAsync();
                while (await reader.MoveNextAsync())
                    events.Add(reader.Current);
            }
            Assert.AreEqual(ServerSentEvents.Done, events[^1], "the stream in flight at SIGTERM completes");
            Assert.AreEqual(reference.TextUntilEos, ServerSentEvents.CompletionText(events));

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            string log = await stderr;
            Assert.AreEqual(0, process.ExitCode, log);
            StringAssert.Contains(log, $"serving fortune-llama on http://127.0.0.1:{port}/");
            StringAssert.Contains(log, "stopped.");
            // One access-log line per request at Information: method, path, status, tokens, milliseconds.
            var access = log.Split('\n').Where(l => l.Contains("OpenWeights.Onnx.Server.RequestLog")).ToList();
            Assert.IsTrue(access.Any(l => l.Contains("GET /health 200 tokens - ")), log);
            StringAssert.Matches(access.Single(l => l.Contains(" 401 ")), new System.Text.RegularExpressions.Regex(@"POST /v1/completions 401 tokens - [\d.]+ ms"));
            int promptTokens = reference.InputIds.Length;
            StringAssert.Matches(access[^1], new System.Text.RegularExpressions.Regex(
                $@"^\d{{4}}-\d\d-\d\dT[\d:.]+Z info: OpenWeights.Onnx.Server.RequestLog\[0\] POST /v1/completions 200 tokens {promptTokens}\+\d+ [\d.]+ ms"));
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
    }

    [TestMethod]
    [DataRow(new[] { "serve", "{missing}" }, "model folder not found")]
    [DataRow(new[] { "serve", "{model}", "--max-batch", "0" }, "--max-batch 0 is out of range (use a whole number from 1 to 256)")]
    [DataRow(new[] { "serve", "{model}", "--host", "example.com" }, "--host 'example.com' is not an IP address")]
    [DataRow(new[] { "serve", "{model}", "--ep", "npu" }, "--ep 'npu' is not one of")]
    public async Task BadServeInvocationsGiveOneClearLine(string[] arguments, string expected)
    {
        string missing = Path.Combine(TestFixtures.Scratch("serve"), "nothing");
        var args = arguments.Select(a => a.Replace("{model}", FortuneReference.ConvertedFp32).Replace("{missing}", missing)).ToArray();
        var result = await OwonnxCli.RunAsync(args);
        Assert.AreEqual(2, result.ExitCode, result.StandardError);
        StringAssert.Contains(result.StandardError, expected);
        Assert.AreEqual(1, result.StandardError.Trim().Split('\n').Length, result.StandardError);
    }

    [TestMethod]
    public async Task AFolderThatIsNotAModelStopsTheServerWithAnError()
    {
        string notAModel = TestFixtures.Scratch("serve-empty");
        var result = await OwonnxCli.RunAsync("serve", notAModel, "--port", FreeLoopbackPort().ToString());
        Assert.AreEqual(1, result.ExitCode, result.StandardError);
        StringAssert.Contains(result.StandardError, "genai_config.json not found");
    }

    private static async Task WaitForHealthAsync(HttpClient http, Process process)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(90))
        {
            Assert.IsFalse(process.HasExited, "owonnx serve exited early");
            try
            {
                using var health = await http.GetAsync("/health");
                if (health.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(100);
        }
        Assert.Fail("owonnx serve did not become healthy within 90 s");
    }
}
