using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using CliWrap;
using CliWrap.Buffered;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Cli;

/// <summary>
/// The conventions every owonnx command keeps: exit codes (0 success, 1 failure while working, 2 usage error),
/// one error style naming the option as typed, no .NET words, help that states every default, and the ways
/// to give run a prompt.
/// </summary>
[TestClass]
[TestCategory(Category.Process)]
public sealed class CliConventionTests
{
    private static readonly string[] Commands = ["convert", "inspect", "run", "chat", "bench", "eval", "serve", "pull", "providers", "adapter"];

    /// <summary>Words of .NET's own messages that must never reach a user.</summary>
    private static readonly string[] DotNetWords = ["Int32", "Int64", "Single", "System.", "(Parameter '", "Exception", "   at "];

    public static IEnumerable<object[]> UsageErrors =>
    [
        // For every command: an unknown option, a value that is not a number, a missing argument or option.
        [new[] { "convert", "--sample", "-o", "{tmp}/out", "--frobnicate" }, "'--frobnicate'"],
        [new[] { "convert", "--sample", "-o", "{tmp}/out", "--block-size", "many" }, "--block-size 'many' is not a whole number"],
        [new[] { "convert", "--sample" }, "'--output' is required"],
        [new[] { "inspect" }, "required argument missing"],
        [new[] { "inspect", "{model}", "--frobnicate" }, "'--frobnicate'"],
        [new[] { "run", "{model}", "x", "--max-new-tokens", "ten" }, "--max-new-tokens 'ten' is not a whole number"],
        [new[] { "run", "{model}", "x", "--threads", "0" }, "--threads 0 is out of range (use a whole number from 1 to "],
        [new[] { "run", "{model}", "x", "--max-new-tokens", "99999999999" }, "--max-new-tokens 99999999999 is out of range"],
        [new[] { "run", "{model}", "-p", "x", "--top-p", "nope" }, "--top-p 'nope' is not a number"],
        [new[] { "run", "{model}", "x", "-p", "y" }, "the prompt was given twice"],
        [new[] { "run", "{model}", "--temprature", "0.5" }, "unknown option '--temprature'"],
        [new[] { "run", "{missing}", "x" }, "model folder not found"],
        [new[] { "chat", "{model}", "--seed", "lucky" }, "--seed 'lucky' is not a whole number"],
        [new[] { "chat" }, "required argument missing"],
        [new[] { "bench", "{model}", "--gen-tokens", "1" }, "--gen-tokens 1 is out of range (use a whole number >= 2)"],
        [new[] { "bench", "{model}", "--batch", "x" }, "--batch 'x' is not a whole number"],
        [new[] { "eval", "{model}" }, "'--text' is required"],
        [new[] { "eval", "{model}", "--text", "t.txt", "--window", "1" }, "--window 1 is out of range"],
        [new[] { "serve", "{model}", "--port", "70000" }, "--port 70000 is out of range (use a whole number from 0 to 65535)"],
        [new[] { "serve", "{model}", "--shutdown-timeout", "soon" }, "--shutdown-timeout 'soon' is not a number"],
        [new[] { "pull" }, "required argument missing"],
        [new[] { "pull", "org/name", "--include" }, "'--include'"],
        [new[] { "frobnicate" }, "unknown command, option or argument 'frobnicate'"],
        [Array.Empty<string>(), "no command given"],
    ];

    [TestMethod]
    [DynamicData(nameof(UsageErrors))]
    public async Task UsageErrorsExitWith2AndOneLineInOwonnxStyle(string[] arguments, string expected)
    {
        string tmp = TestFixtures.Scratch("usage");
        var args = arguments.Select(a => a.Replace("{tmp}", tmp).Replace("{model}", FortuneReference.ConvertedFp32)
            .Replace("{missing}", Path.Combine(tmp, "missing"))).ToArray();
        var result = await OwonnxCli.RunAsync(args);
        string error = result.StandardError.TrimEnd();
        Assert.AreEqual(2, result.ExitCode, $"owonnx {string.Join(' ', args)}: {error}");
        Assert.AreEqual("", result.StandardOutput, "a usage error prints nothing on stdout");
        Assert.AreEqual(1, error.Split('\n').Length, error);
        Assert.IsTrue(Regex.IsMatch(error, @"^owonnx: [a-z'\-/].* \(.+\)$"), $"'owonnx: <what is wrong> (<what to do>)': {error}");
        StringAssert.Contains(error, expected);
        foreach (var word in DotNetWords)
            Assert.DoesNotContain(word, error);
    }

    /// <summary>FP16 on the CPU converts, but says what it costs once loaded and what to use instead.</summary>
    [TestMethod]
    public async Task Fp16ForTheCpuSaysItsCostAndTheAlternative()
    {
        var result = await OwonnxCli.RunAsync("convert", "--sample", "-o", Path.Combine(TestFixtures.Scratch("fp16-cpu"), "out"), "--precision", "fp16");
        Assert.AreEqual(0, result.ExitCode, result.StandardError);
        StringAssert.StartsWith(result.StandardError, "warning: --precision fp16 for the CPU halves the file, not the memory");
        StringAssert.Contains(result.StandardError, "On the CPU use int8");
        var cuda = await OwonnxCli.RunAsync("convert", "--sample", "-o", Path.Combine(TestFixtures.Scratch("fp16-cuda"), "out"), "--precision", "fp16", "--ep", "cuda");
        Assert.AreEqual(0, cuda.ExitCode, cuda.StandardError);
        Assert.DoesNotContain("warning", cuda.StandardError, "fp16 is what CUDA wants");
    }

    [TestMethod]
    public async Task TheOptionIsNamedAsTyped()
    {
        var result = await OwonnxCli.RunAsync("convert", "--sample", "-o", Path.Combine(TestFixtures.Scratch("typed"), "out"), "--precision", "int4", "--block-size", "48");
        StringAssert.Contains(result.StandardError, "--block-size 48");
        var alias = await OwonnxCli.RunAsync("run", FortuneReference.ConvertedFp32, "-p");
        Assert.AreEqual(2, alias.ExitCode, alias.StandardError);
        StringAssert.Contains(alias.StandardError, "'-p'");
    }

    [TestMethod]
    public async Task HelpExitsZeroAndStatesEveryDefault()
    {
        foreach (var args in new[] { new[] { "--help" }, ["help"], ["-h"] })
        {
            var root = await OwonnxCli.RunAsync(args);
            Assert.AreEqual(0, root.ExitCode, root.StandardError);
            foreach (var command in Commands)
                StringAssert.Contains(root.StandardOutput, $"  {command} ");
        }
        foreach (var command in Commands)
        {
            var viaOption = await OwonnxCli.RunAsync(command, "--help");
            var viaCommand = await OwonnxCli.RunAsync("help", command);
            Assert.AreEqual(0, viaOption.ExitCode, viaOption.StandardError);
            Assert.AreEqual(0, viaCommand.ExitCode, viaCommand.StandardError);
            Assert.AreEqual(viaOption.StandardOutput, viaCommand.StandardOutput);
            var options = OptionEntries(viaOption.StandardOutput);
            Assert.IsNotEmpty(options, viaOption.StandardOutput);
            // Every optional option that takes a value says what happens without it; switches are off unless given.
            foreach (var entry in options.Where(e => Regex.IsMatch(e, @"^\s*(-\w, )?--[\w-]+ <") && !e.Contains("(REQUIRED)")))
                Assert.IsTrue(entry.Contains("default", StringComparison.OrdinalIgnoreCase), $"owonnx {command} --help: no default in\n{entry}");
        }
    }

    /// <summary>The option entries of a help text: a line starting with a dash and its continuation lines.</summary>
    private static List<string> OptionEntries(string help)
    {
        var entries = new List<string>();
        bool inOptions = false;
        foreach (var line in help.Split('\n'))
        {
            if (line.StartsWith("Options:")) { inOptions = true; continue; }
            if (!inOptions || line.Trim().Length == 0) continue;
            if (Regex.IsMatch(line, @"^\s{2}-")) entries.Add(line);
            else if (entries.Count > 0) entries[^1] += "\n" + line;
        }
        return entries;
    }

    [TestMethod]
    public async Task ThePromptMayBePositionalAnOptionOrStandardInput()
    {
        string model = FortuneReference.ConvertedFp32;
        var reference = FortuneReference.Greedy()[0];
        string expected = reference.TextUntilEos + "\n";

        var positional = await OwonnxCli.RunAsync("run", model, reference.Prompt, "--max-new-tokens", "40");
        Assert.AreEqual(0, positional.ExitCode, positional.StandardError);
        Assert.AreEqual(expected, positional.StandardOutput);

        var piped = await CliWrap.Cli.Wrap(OwonnxCli.Path)
            .WithArguments(["run", model, "--max-new-tokens", "40"])
            .WithStandardInputPipe(PipeSource.FromString(reference.Prompt + "\n"))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync();
        Assert.AreEqual(0, piped.ExitCode, piped.StandardError);
        Assert.AreEqual(expected, piped.StandardOutput, "echo prompt | owonnx run model");

        var empty = await CliWrap.Cli.Wrap(OwonnxCli.Path)
            .WithArguments(["run", model])
            .WithStandardInputPipe(PipeSource.FromString(""))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync();
        Assert.AreEqual(2, empty.ExitCode, empty.StandardError);
        StringAssert.Contains(empty.StandardError, "the prompt is empty");
    }

    [TestMethod]
    public async Task SamplingDefaultsComeFromTheModelsGenerationConfig()
    {
        // The sample ships do_sample: false (greedy). A copy of the converted model whose generation_config.json
        // asks for sampling must sample exactly as the same values given as options do.
        string model = FortuneReference.ConvertedFp32;
        string sampling = Path.Combine(TestFixtures.Scratch("genconfig"), "model");
        Directory.CreateDirectory(sampling);
        foreach (var file in Directory.GetFiles(model))
            File.CreateSymbolicLink(Path.Combine(sampling, Path.GetFileName(file)), file);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "generation_config.json")))!.AsObject();
        Assert.IsFalse(config["do_sample"]!.GetValue<bool>(), "the sample is greedy by default");
        config["do_sample"] = true;
        config["temperature"] = 1.3;
        config["top_k"] = 40;
        config["top_p"] = 0.9;
        config["repetition_penalty"] = 1.2;
        File.Delete(Path.Combine(sampling, "generation_config.json"));
        File.WriteAllText(Path.Combine(sampling, "generation_config.json"), config.ToJsonString());

        var reference = FortuneReference.Greedy()[0];
        string[] common = ["--max-new-tokens", "40", "--seed", "11"];
        var fromConfig = await OwonnxCli.RunAsync(["run", sampling, reference.Prompt, .. common]);
        var fromOptions = await OwonnxCli.RunAsync(["run", model, reference.Prompt, .. common,
            "--temperature", "1.3", "--top-k", "40", "--top-p", "0.9", "--repetition-penalty", "1.2"]);
        var greedyOverride = await OwonnxCli.RunAsync(["run", sampling, reference.Prompt, "--max-new-tokens", "40",
            "--temperature", "0", "--repetition-penalty", "1"]);
        var plain = await OwonnxCli.RunAsync(["run", model, reference.Prompt, .. common]);
        foreach (var r in new[] { fromConfig, fromOptions, greedyOverride, plain })
            Assert.AreEqual(0, r.ExitCode, r.StandardError);

        Assert.AreEqual(fromOptions.StandardOutput, fromConfig.StandardOutput, "unset options take generation_config.json's values");
        Assert.AreNotEqual(reference.TextUntilEos + "\n", fromConfig.StandardOutput, "do_sample: true samples");
        Assert.AreEqual(reference.TextUntilEos + "\n", greedyOverride.StandardOutput, "--temperature 0 stays greedy");
        Assert.AreEqual(reference.TextUntilEos + "\n", plain.StandardOutput, "do_sample: false is greedy whatever the seed");
    }

    [TestMethod]
    public async Task RunShowsOnlyExplainedStatistics()
    {
        var result = await OwonnxCli.RunAsync("run", FortuneReference.ConvertedFp32, "A fool and his money", "--max-new-tokens", "8");
        Assert.AreEqual(0, result.ExitCode, result.StandardError);
        string stats = result.StandardError.Trim();
        Assert.IsTrue(Regex.IsMatch(stats,
            @"^prompt \d+ tokens; generated 8 \(--max-new-tokens reached\); first token after \d+ ms, then [\d.]+ tokens/s$"), stats);
        Assert.DoesNotContain("overhead", stats);
    }
}
