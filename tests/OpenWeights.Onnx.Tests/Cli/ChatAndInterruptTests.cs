using System.Diagnostics;
using System.Text;
using CliWrap;
using CliWrap.Buffered;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Cli;

/// <summary>
/// <c>owonnx chat</c> as people know it from <c>ollama run</c> (commands, multi-line input, a conversation longer
/// than the context), and Ctrl-C (SIGINT) for every kind of command: exit code 130, or back to the chat prompt.
/// </summary>
[TestClass]
[TestCategory(Category.Process)]
public sealed class ChatAndInterruptTests
{
    private static async Task<BufferedCommandResult> ChatAsync(string input, params string[] options) =>
        await CliWrap.Cli.Wrap(OwonnxCli.Path)
            .WithArguments(["chat", FortuneReference.ConvertedFp32, .. options])
            .WithStandardInputPipe(PipeSource.FromString(input))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token);

    private static string[] StatsLines(string stderr) => stderr.Split('\n').Where(l => l.StartsWith("prompt ")).ToArray();

    [TestMethod]
    public async Task AConversationLongerThanTheContextDropsTheOldestTurnsAndGoesOn()
    {
        // 96 positions with room for 24 new tokens: about two turns fit, the twelve sent here do not.
        var turns = Enumerable.Range(1, 12).Select(i => $"Tell me fortune number {i}.").ToArray();
        var result = await ChatAsync(string.Join('\n', turns) + "\n", "--max-length", "96", "--max-new-tokens", "24",
            "--system", "You are a fortune cookie.");
        Assert.AreEqual(0, result.ExitCode, result.StandardError);
        var stats = StatsLines(result.StandardError);
        Assert.HasCount(turns.Length, stats, result.StandardError);
        var dropped = result.StandardError.Split('\n').Where(l => l.StartsWith("owonnx: the conversation no longer fits the context")).ToList();
        Assert.IsNotEmpty(dropped, result.StandardError);
        foreach (var line in stats)
        {
            int prompt = int.Parse(line.Split(' ')[1]);
            Assert.IsLessThanOrEqualTo(96 - 24, prompt, line);
        }
        // After a drop the history starts again at the system prompt, so the cache still serves that prefix.
        int afterFirstDrop = Array.FindIndex(result.StandardError.Split('\n'), l => l.StartsWith("owonnx: the conversation")) + 1;
        StringAssert.Contains(result.StandardError.Split('\n')[afterFirstDrop], "reused from the cache");
    }

    [TestMethod]
    public async Task CommandsMultiLineInputAndEmptyLines()
    {
        string input = string.Join('\n',
            "", "   ",                               // ignored
            "/?",
            "/set temperature 0.7", "/set top-p 2", "/set warp 9", "/frob",
            "/set temperature 0",
            "Tell me a fortune.",
            "\"\"\"", "first line", "second line", "\"\"\"",
            "/clear",
            "Tell me a fortune.",
            "/bye",
            "this is never sent") + "\n";
        var result = await ChatAsync(input, "--max-new-tokens", "8");
        Assert.AreEqual(0, result.ExitCode, result.StandardError);
        string err = result.StandardError;
        StringAssert.Contains(err, "/set <option> <value>");
        StringAssert.Contains(err, "owonnx: set temperature to 0.7");
        StringAssert.Contains(err, "owonnx: /set top-p 2 is out of range (use a number in (0, 1]; 1 = off)");
        StringAssert.Contains(err, "owonnx: /set warp: unknown option");
        StringAssert.Contains(err, "owonnx: unknown command '/frob'");
        StringAssert.Contains(err, "owonnx: cleared the conversation");
        var stats = StatsLines(err);
        Assert.HasCount(3, stats, "three messages: one, the multi-line one, one after /clear; commands, blank lines and text after /bye are not sent");
        StringAssert.Contains(stats[1], "reused from the cache", "the multi-line message continues the conversation");
        // /clear forgets the turns: the same first message gives the same prompt length as at the start.
        Assert.AreEqual(stats[0].Split(';')[0].Split(' ')[1], stats[2].Split(';')[0].Split(' ')[1], string.Join('\n', stats));
    }

    /// <summary>Starts owonnx with its streams redirected; stdin stays open for the test to write to.</summary>
    private static Process Start(params string[] arguments)
    {
        var start = new ProcessStartInfo(OwonnxCli.Path)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            Environment = { ["ORT_DISABLE_TELEMETRY"] = "1" },
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        return Process.Start(start)!;
    }

    private static void Interrupt(Process process)
    {
        using var kill = Process.Start("kill", ["-INT", process.Id.ToString()])!;
        kill.WaitForExit();
    }

    /// <summary>Collects a stream as it arrives and lets a test wait until some text has appeared.</summary>
    private sealed class Collected
    {
        private readonly StringBuilder _text = new();
        public Collected(StreamReader reader) => Task = Pump(reader);
        public Task Task { get; }
        public string Text { get { lock (_text) return _text.ToString(); } }

        private async Task Pump(StreamReader reader)
        {
            var buffer = new char[256];
            int n;
            while ((n = await reader.ReadAsync(buffer)) > 0)
                lock (_text) _text.Append(buffer, 0, n);
        }

        public async Task WaitFor(Func<string, bool> condition, string what)
        {
            var watch = Stopwatch.StartNew();
            while (!condition(Text))
            {
                Assert.IsLessThan(120, watch.Elapsed.TotalSeconds, $"timed out waiting for {what}; so far:\n{Text}");
                await Task.Delay(20);
            }
        }
    }

    [TestMethod]
    public async Task CtrlCStopsTheReplyThenCtrlCAtThePromptQuits()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            Assert.Inconclusive("sends SIGINT with kill(1)");
        using var process = Start("chat", FortuneReference.ConvertedFp32, "--max-new-tokens", "400", "--max-length", "512");
        var stdout = new Collected(process.StandardOutput);
        var stderr = new Collected(process.StandardError);
        try
        {
            await process.StandardInput.WriteLineAsync("Tell me a very long story.");
            await process.StandardInput.FlushAsync();
            await stdout.WaitFor(t => t.Length > 0, "the reply to start");
            Interrupt(process);
            await stderr.WaitFor(t => t.Contains("(interrupted)"), "the reply to stop");
            Assert.IsFalse(process.HasExited, "Ctrl-C during a reply returns to the prompt");

            // The chat goes on: the next message is answered, with the earlier turn in the cache.
            await process.StandardInput.WriteLineAsync("And another.");
            await process.StandardInput.FlushAsync();
            await stderr.WaitFor(t => StatsLines(t).Length == 2 && StatsLines(t)[1].EndsWith("tokens/s"), "the second reply");
            StringAssert.Contains(StatsLines(stderr.Text)[1], "reused from the cache");

            Interrupt(process);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            Assert.AreEqual(130, process.ExitCode, stderr.Text);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [TestMethod]
    public async Task IgnoreEosGeneratesTheWholeBudget()
    {
        string[] run = ["run", FortuneReference.ConvertedFp32, "Once upon a time", "--max-new-tokens", "300"];
        var stopped = await OwonnxCli.RunAsync(run);
        var ignoring = await OwonnxCli.RunAsync([.. run, "--ignore-eos"]);
        Assert.AreEqual(0, stopped.ExitCode, stopped.StandardError);
        Assert.AreEqual(0, ignoring.ExitCode, ignoring.StandardError);
        StringAssert.Contains(StatsLines(stopped.StandardError).Single(), "(end-of-text token or stop string)");
        StringAssert.Contains(StatsLines(ignoring.StandardError).Single(), "generated 300 ");
    }

    [TestMethod]
    public async Task CtrlCDuringRunExitsWith130AfterTheTextSoFar()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            Assert.Inconclusive("sends SIGINT with kill(1)");
        // --ignore-eos: the sample often ends a reply within ~20 tokens, faster than the signal arrives on an idle machine.
        using var process = Start("run", FortuneReference.ConvertedFp32, "Once upon a time", "--max-new-tokens", "500", "--max-length", "512", "--ignore-eos");
        process.StandardInput.Close();
        var stdout = new Collected(process.StandardOutput);
        var stderr = new Collected(process.StandardError);
        try
        {
            await stdout.WaitFor(t => t.Length > 0, "generation to start");
            Interrupt(process);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            await Task.WhenAll(stdout.Task, stderr.Task);
            Assert.AreEqual(130, process.ExitCode, stderr.Text);
            StringAssert.Contains(stderr.Text, "(interrupted)");
            Assert.IsFalse(string.IsNullOrWhiteSpace(stdout.Text), "the text generated before Ctrl-C is kept");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [TestMethod]
    public async Task CtrlCDuringConvertExitsWith130AndLeavesNothing()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            Assert.Inconclusive("sends SIGINT with kill(1)");
        // A checkpoint large enough that the conversion is still running when the signal arrives.
        string work = TestFixtures.Scratch("interrupt-convert");
        string output = Path.Combine(work, "out");
        using var process = Start("convert", "--sample", "--output", output, "--precision", "int4", "--quant-method", "mse", "--block-size", "16");
        process.StandardInput.Close();
        var stdout = new Collected(process.StandardOutput);
        var stderr = new Collected(process.StandardError);
        try
        {
            // The staging folder appears once the conversion has started writing.
            var watch = Stopwatch.StartNew();
            while (!Directory.EnumerateDirectories(work, ".owonnx-staging-*").Any() && !process.HasExited && watch.Elapsed.TotalSeconds < 60)
                await Task.Delay(5);
            if (process.HasExited)
                Assert.Inconclusive($"the conversion finished before it could be interrupted ({watch.ElapsedMilliseconds} ms)");
            Interrupt(process);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            await Task.WhenAll(stdout.Task, stderr.Task);
            if (process.ExitCode == 0)
                Assert.Inconclusive("the conversion finished before the signal was handled");
            Assert.AreEqual(130, process.ExitCode, stderr.Text);
            Assert.AreEqual("owonnx: cancelled (nothing was written)", stderr.Text.Trim());
            Assert.IsFalse(Directory.Exists(output), "no output folder");
            Assert.IsEmpty(Directory.EnumerateFileSystemEntries(work), "no staging folder left behind");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
