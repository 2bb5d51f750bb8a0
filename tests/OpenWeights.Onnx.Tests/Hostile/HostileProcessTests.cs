using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hostile;

/// <summary>
/// Hostile input that needs the real process, a loaded model or the clock: options that used to hang or overflow,
/// kill -9 and Ctrl-C in the middle of a conversion, a second server on a busy port, templates that overrun their
/// limits, and converted folders whose genai_config.json disagrees with model.onnx. Kept few and quick.
/// </summary>
[TestCategory(Category.Process)]
[TestClass]
public sealed class HostileProcessTests
{
    private static string Model => FortuneReference.ConvertedFp32;

    private static void NoStackTrace(string stderr)
    {
        Assert.IsFalse(stderr.Contains("   at ", StringComparison.Ordinal), stderr);
        Assert.IsFalse(stderr.Contains("Exception", StringComparison.Ordinal), stderr);
    }

    [TestMethod]
    [DataRow("--threads", "100000")]
    [DataRow("--threads", "0")]
    [DataRow("--max-length", "1")]
    public async Task OutOfRangeRuntimeOptionIsAUsageError(string option, string value)
    {
        var clock = Stopwatch.StartNew();
        var r = await OwonnxCli.RunAsync("run", Model, "--prompt", "A fool", option, value);
        Assert.AreEqual(2, r.ExitCode, r.StandardError);
        StringAssert.Contains(r.StandardError, $"{option} {value}");
        NoStackTrace(r.StandardError);
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(60), "refused at once, not after creating the threads");
    }

    [TestMethod]
    public async Task HugeMaxNewTokensDoesNotOverflowPastTheContextCheck()
    {
        var r = await OwonnxCli.RunAsync("run", Model, "--prompt", "A fool", "--max-new-tokens", "2147483645");
        Assert.AreEqual(1, r.ExitCode, r.StandardError);
        // No int wrap-around: the sum is reported as what it is (> 2^31), and refused.
        StringAssert.Contains(r.StandardError, " 21474836");
        StringAssert.Contains(r.StandardError, "--max-new-tokens");
        Assert.AreEqual("", r.StandardOutput.Trim(), "nothing may be generated");
    }

    [TestMethod]
    [DataRow(new byte[] { 0x7F, 0x45, 0x4C, 0x46, 0, 1, 2 }, "NUL byte")]
    [DataRow(new byte[] { 0x41, 0xFF, 0xFE, 0x42 }, "not UTF-8")]
    public async Task EvalOnABinaryFileIsRefused(byte[] content, string fragment)
    {
        string file = Path.Combine(TestFixtures.Scratch("hostile-eval"), "data.bin");
        File.WriteAllBytes(file, content);
        var r = await OwonnxCli.RunAsync("eval", Model, "--text", file);
        Assert.AreEqual(1, r.ExitCode, r.StandardError);
        StringAssert.Contains(r.StandardError, file);
        StringAssert.Contains(r.StandardError, fragment);
    }

    [TestMethod]
    public async Task ConvertOntoItsOwnInputWithOverwriteKeepsTheInput()
    {
        string dir = HostileInput.CopyFixture("llama");
        var before = Directory.GetFiles(dir).ToDictionary(Path.GetFileName, File.ReadAllBytes);
        var r = await OwonnxCli.RunAsync("convert", dir, "--output", dir, "--overwrite");
        Assert.AreEqual(1, r.ExitCode, r.StandardError);
        StringAssert.Contains(r.StandardError, "is the input folder");
        foreach (var (name, bytes) in before)
            CollectionAssert.AreEqual(bytes, File.ReadAllBytes(Path.Combine(dir, name!)), name);
        Assert.AreEqual(before.Count, Directory.GetFileSystemEntries(dir).Length);
    }

    [TestMethod]
    public async Task ChatWithARecursiveTemplateIsAClearErrorNotACrash()
    {
        string dir = Path.Combine(TestFixtures.Scratch("hostile-template"), "model");
        CopyFolder(Model, dir);
        string config = Path.Combine(dir, "tokenizer_config.json");
        var root = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        root["chat_template"] = "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}";
        File.WriteAllText(config, root.ToJsonString());
        var r = await OwonnxCli.RunAsync("run", dir, "--prompt", "hi", "--chat", "--max-new-tokens", "2");
        Assert.AreEqual(1, r.ExitCode, r.StandardError);
        StringAssert.Contains(r.StandardError, "tokenizer_config.json");
        StringAssert.Contains(r.StandardError, "calls itself");
        NoStackTrace(r.StandardError);
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from))
            File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }

    private static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo(OwonnxCli.Path) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["ORT_DISABLE_TELEMETRY"] = "1";
        return Process.Start(info)!;
    }

    private static string? Staging(string parent) =>
        Directory.EnumerateDirectories(parent, ".owonnx-staging-*").FirstOrDefault();

    /// <summary>Starts an int4 conversion of the sample (slow enough to interrupt) and waits until it is writing.</summary>
    private static Process ConvertUntilWriting(string parent, string output, params string[] extra)
    {
        var p = Start(["convert", "--sample", "--output", output, "--precision", "int4", .. extra]);
        var clock = Stopwatch.StartNew();
        while (Staging(parent) is null || !File.Exists(Path.Combine(Staging(parent)!, ModelConverter.DataFile)))
        {
            Assert.IsFalse(p.HasExited, $"the conversion ended before it could be interrupted: {p.StandardError.ReadToEnd()}");
            Assert.IsTrue(clock.Elapsed < TimeSpan.FromMinutes(2));
            Thread.Sleep(20);
        }
        return p;
    }

    [TestMethod]
    public async Task KillDashNineMidConvertLeavesNoOutputAndTheNextRunCleansUp()
    {
        string parent = TestFixtures.Scratch("hostile-kill");
        string output = Path.Combine(parent, "model");
        using (var p = ConvertUntilWriting(parent, output))
        {
            p.Kill();
            await p.WaitForExitAsync();
        }
        Assert.IsFalse(Directory.Exists(output), "a killed conversion must not leave an output");
        Assert.IsNotNull(Staging(parent), "kill -9 leaves its staging behind (nothing can run on SIGKILL)");

        var r = await OwonnxCli.RunAsync("convert", "--sample", "--output", output);
        Assert.AreEqual(0, r.ExitCode, r.StandardError);
        CollectionAssert.AreEquivalent(new[] { "model" }, Directory.GetFileSystemEntries(parent).Select(Path.GetFileName).ToArray(),
            "the next conversion removes what the killed one left");
    }

    [TestMethod]
    public async Task KillDashNineDuringOverwriteKeepsTheExistingOutput()
    {
        string parent = TestFixtures.Scratch("hostile-kill-overwrite");
        string output = Path.Combine(parent, "model");
        var r = await OwonnxCli.RunAsync("convert", "--sample", "--output", output);
        Assert.AreEqual(0, r.ExitCode, r.StandardError);
        var before = Directory.GetFiles(output).ToDictionary(Path.GetFileName, f => new FileInfo(f).Length);
        string genai = File.ReadAllText(Path.Combine(output, GenAiConfigWriter.FileName));

        using (var p = ConvertUntilWriting(parent, output, "--overwrite"))
        {
            p.Kill();
            await p.WaitForExitAsync();
        }
        CollectionAssert.AreEquivalent(before, Directory.GetFiles(output).ToDictionary(Path.GetFileName, f => new FileInfo(f).Length));
        Assert.AreEqual(genai, File.ReadAllText(Path.Combine(output, GenAiConfigWriter.FileName)));
    }

    [TestMethod]
    public async Task CtrlCMidConvertRemovesItsStaging()
    {
        string parent = TestFixtures.Scratch("hostile-sigint");
        string output = Path.Combine(parent, "model");
        using var p = ConvertUntilWriting(parent, output);
        using (var kill = Process.Start("kill", ["-INT", p.Id.ToString()]))
            await kill.WaitForExitAsync();
        string stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.AreEqual(130, p.ExitCode, stderr);
        StringAssert.Contains(stderr, "cancelled");
        Assert.AreEqual(0, Directory.GetFileSystemEntries(parent).Length, "Ctrl-C leaves nothing: no output, no staging, no lock");
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    [TestMethod]
    public async Task SecondServerOnABusyPortSaysSoInOneLine()
    {
        int port = FreePort();
        using var first = Start("serve", Model, "--port", port.ToString());
        try
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                string? line = await first.StandardError.ReadLineAsync();
                Assert.IsNotNull(line, "the first server exited");
                if (line.Contains("ready", StringComparison.Ordinal)) break;
                Assert.IsTrue(clock.Elapsed < TimeSpan.FromMinutes(2));
            }
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var r = await OwonnxCli.RunAsync("serve", Model, "--port", port.ToString());
                Assert.AreEqual(1, r.ExitCode, r.StandardError);
                Assert.AreEqual("", r.StandardOutput, "nothing on stdout");
                string[] lines = r.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.AreEqual(1, lines.Length, r.StandardError);
                StringAssert.Contains(lines[0], "already in use");
                StringAssert.Contains(lines[0], port.ToString());
            }
            Assert.IsFalse(first.HasExited, "the first server keeps serving");
        }
        finally
        {
            first.Kill();
            await first.WaitForExitAsync();
        }
    }

    private static ChatTemplate Template(string source, TimeSpan? limit = null) =>
        new(Model, source) { TimeLimit = limit ?? TimeSpan.FromSeconds(5) };

    private static readonly ChatMessage[] Hello = [new("user", "hello")];

    [TestMethod]
    public void TemplateRaisingIsAClearError()
    {
        using var t = Template("{{ raise_exception('roles must alternate') }}");
        var e = Assert.ThrowsExactly<ChatTemplateException>(() => t.Render(Hello));
        StringAssert.Contains(e.Message, "roles must alternate");
        StringAssert.Contains(e.Message, "tokenizer_config.json");
    }

    [TestMethod]
    public void TemplateOverrunningItsTimeIsStoppedAndRetired()
    {
        // About a million steps: seconds for the engine, far past the 50 ms allowed; the abandoned render ends on its own.
        using var t = Template("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}x", TimeSpan.FromMilliseconds(50));
        var e = Assert.ThrowsExactly<ChatTemplateException>(() => t.Render(Hello));
        StringAssert.Contains(e.Message, "did not finish");
        StringAssert.Contains(Assert.ThrowsExactly<ChatTemplateException>(() => t.Render(Hello)).Message, "no longer used");
    }

    [TestMethod]
    public void TemplateRenderingTooMuchIsRefused()
    {
        using var t = Template("{% for a in range(2000) %}{{ messages[0]['content'] }}{% endfor %}");
        ChatMessage[] longMessage = [new("user", new string('x', 1000))];
        StringAssert.Contains(Assert.ThrowsExactly<ChatTemplateException>(() => t.Render(longMessage)).Message, "rendered 2000000 characters");
    }

    [TestMethod]
    public void SafeTemplateStillRenders()
    {
        using var t = Template("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}");
        Assert.AreEqual("<user>hello", t.Render(Hello, addGenerationPrompt: false));
    }

    /// <summary>A converted fixture whose genai_config.json is edited so that it no longer matches model.onnx.</summary>
    [TestMethod]
    [DataRow("num_hidden_layers", 1, "has an input for layer 1")]
    [DataRow("num_hidden_layers", 3, "no input 'past_key_values.2.key'")]
    [DataRow("num_key_value_heads", 4, "num_key_value_heads 4")]
    [DataRow("head_size", 32, "head_size 32")]
    public void GenAiConfigThatDisagreesWithTheGraphIsRefusedAtLoad(string field, int value, string fragment)
    {
        string dir = Path.Combine(TestFixtures.Scratch("hostile-mismatch"), "model");
        CopyFolder(ConvertedFixtures.Hf("llama"), dir);
        string file = Path.Combine(dir, GenAiConfigWriter.FileName);
        var root = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        root["model"]!["decoder"]![field] = value;
        File.WriteAllText(file, root.ToJsonString());
        var e = Assert.ThrowsExactly<ModelLoadException>(() => LanguageModel.Load(dir).Dispose());
        StringAssert.Contains(e.Message, file);
        StringAssert.Contains(e.Message, fragment);
    }

    [TestMethod]
    public void GenAiConfigVocabularyThatDisagreesWithTheLogitsIsRefused()
    {
        string dir = Path.Combine(TestFixtures.Scratch("hostile-mismatch"), "model");
        CopyFolder(ConvertedFixtures.Hf("llama"), dir);
        string file = Path.Combine(dir, GenAiConfigWriter.FileName);
        var root = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        root["model"]!["vocab_size"] = 600;
        File.WriteAllText(file, root.ToJsonString());
        var e = Assert.ThrowsExactly<ModelLoadException>(() => LanguageModel.Load(dir).Dispose());
        StringAssert.Contains(e.Message, "vocab_size is 600");
    }

    [TestMethod]
    public void NonFiniteWeightsConvertWhenAllowedAndAreReported()
    {
        string dir = HostileInput.CopyFixture("llama");
        string model = Path.Combine(dir, "model.safetensors");
        long offset;
        using (var file = OpenWeights.Onnx.Checkpoints.SafeTensorsFile.Open(model))
            offset = file.Tensors["model.layers.0.mlp.down_proj.weight"].Offset;
        using (var stream = new FileStream(model, FileMode.Open, FileAccess.Write))
        {
            stream.Position = offset;
            stream.Write(BitConverter.GetBytes(float.NaN));
        }
        string output = Path.Combine(TestFixtures.Scratch("hostile-out"), "model");
        var result = HostileInput.Converter.Convert(dir, output, new ConversionOptions { AllowNonFinite = true });
        CollectionAssert.AreEqual(new[] { "model.layers.0.mlp.down_proj.weight" }, result.NonFiniteTensors.ToArray());
    }

    [TestMethod]
    public async Task ServerWithAnUnsafeTemplateAnswersChatWithAnErrorAndStillCompletes()
    {
        string dir = Path.Combine(TestFixtures.Scratch("hostile-serve-template"), "fortune-llama");
        CopyFolder(Model, dir);
        string config = Path.Combine(dir, "tokenizer_config.json");
        var root = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        root["chat_template"] = "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}";
        File.WriteAllText(config, root.ToJsonString());
        await using var server = await TestServer.StartAsync(o => o with { ModelDirectory = dir });
        var (status, body) = await server.PostAsync("/v1/chat/completions",
            """{"model":"fortune-llama","messages":[{"role":"user","content":"Hi"}],"max_tokens":4}""");
        Assert.AreEqual(500, (int)status, body.ToString());
        Assert.AreEqual("chat_template_unusable", body.GetProperty("error").GetProperty("code").GetString());
        StringAssert.Contains(body.GetProperty("error").GetProperty("message").GetString(), "calls itself");
        var (ok, completion) = await server.PostAsync("/v1/completions",
            """{"model":"fortune-llama","prompt":"A fool","max_tokens":4,"temperature":0}""");
        Assert.AreEqual(200, (int)ok, completion.ToString());
    }
}
