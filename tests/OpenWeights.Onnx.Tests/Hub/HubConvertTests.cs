using CliWrap;
using CliWrap.Buffered;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hub;

/// <summary>
/// The owonnx binary against a fake Hub: <c>convert org/name</c> gives the model converting the folder gives
/// (same bytes, transformers' logits), a second convert is served from the cache with no request (offline too),
/// <c>pull</c> prints the snapshot, errors are one line, and a local folder of the same name wins.
/// </summary>
[TestClass]
[TestCategory(Category.Process)]
public sealed class HubConvertTests
{
    private static Task<BufferedCommandResult> OwonnxAsync(FakeHub hub, string cache, string[] arguments,
        bool offline = false, string? workingDirectory = null) =>
        CliWrap.Cli.Wrap(OwonnxCli.Path)
            .WithArguments(arguments)
            .WithWorkingDirectory(workingDirectory ?? Environment.CurrentDirectory)
            .WithValidation(CommandResultValidation.None)
            .WithEnvironmentVariables(e => e
                .Set("ORT_DISABLE_TELEMETRY", "1")
                .Set("HF_ENDPOINT", hub.Endpoint.AbsoluteUri)
                .Set("HF_HUB_CACHE", cache)
                .Set("HF_HOME", Path.Combine(cache, "home"))
                .Set("HF_TOKEN", null)
                .Set("HUGGING_FACE_HUB_TOKEN", null)
                .Set("HF_HUB_OFFLINE", offline ? "1" : null))
            .ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token);

    [TestMethod]
    public async Task ConvertByRepoIdGivesTheModelConvertingTheFolderGives()
    {
        var repo = FakeRepos.Llama();
        await using var hub = await FakeHub.StartAsync(repo);
        string cache = TestFixtures.Scratch("hub-cache"), scratch = TestFixtures.Scratch("hub-convert");
        string byId = Path.Combine(scratch, "by-id"), byFolder = Path.Combine(scratch, "by-folder"), offline = Path.Combine(scratch, "offline");
        // --logits all: the library's default, and what OrtDecoderSession's every-position comparison needs.
        new ModelConverter(KnownFamilies.All).Convert(TestFixtures.Hf("llama"), byFolder, new ConversionOptions());

        var convert = await OwonnxAsync(hub, cache, ["convert", "tiny/llama", "--output", byId, "--logits", "all"]);
        Assert.AreEqual(0, convert.ExitCode, convert.StandardError);
        StringAssert.Contains(convert.StandardOutput, "LlamaForCausalLM");
        foreach (string file in new[] { ModelConverter.ModelFile, ModelConverter.DataFile, "genai_config.json", "config.json" })
            CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(byFolder, file)), File.ReadAllBytes(Path.Combine(byId, file)), file);
        CollectionAssert.AreEqual(repo.Files["tokenizer.json"].Content, File.ReadAllBytes(Path.Combine(byId, "tokenizer.json")),
            "the pulled tokenizer travels with the model");

        using (var reference = ReferenceTensors.For(TestFixtures.Hf("llama")))
        using (var session = new OrtDecoderSession(byId))
        {
            float diff = Logits.MaxAbsDiff(session.Forward(reference.Longs("input_ids")), reference.Floats("full_logits"));
            Assert.IsLessThanOrEqualTo(1e-4f, diff, $"prompt logits of the model converted by id differ from transformers' by {diff}");
        }

        hub.ClearRequests();
        var again = await OwonnxAsync(hub, cache, ["convert", "tiny/llama", "--output", offline, "--logits", "all"], offline: true);
        Assert.AreEqual(0, again.ExitCode, again.StandardError);
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(byId, ModelConverter.DataFile)), File.ReadAllBytes(Path.Combine(offline, ModelConverter.DataFile)));
        Assert.IsEmpty(hub.Requests, "a cached model converts with no request (HF_HUB_OFFLINE=1)");

        var pull = await OwonnxAsync(hub, cache, ["pull", "tiny/llama"]);
        Assert.AreEqual(0, pull.ExitCode, pull.StandardError);
        Assert.AreEqual(Path.Combine(cache, "models--tiny--llama", "snapshots", repo.Commit) + "\n", pull.StandardOutput);
        StringAssert.Contains(pull.StandardError, "0 file(s) downloaded");
        Assert.HasCount(1, hub.Requests, "pull asks only for the revision when every file is cached");
    }

    [TestMethod]
    public async Task PullErrorsAreOneLineAndALocalFolderWinsOverTheHub()
    {
        var gated = FakeRepos.Llama("org/gated", withTokenizer: false);
        await using var hub = await FakeHub.StartAsync(new FakeRepo(gated.Id, gated.Files) { RequiredToken = "hf_granted" });
        string cache = TestFixtures.Scratch("hub-cache");

        var denied = await OwonnxAsync(hub, cache, ["pull", "org/gated"]);
        Assert.AreEqual(1, denied.ExitCode);
        Assert.AreEqual("", denied.StandardOutput);
        Assert.HasCount(1, denied.StandardError.Trim().Split('\n'), denied.StandardError);
        StringAssert.Contains(denied.StandardError, "accept its licence");

        var badId = await OwonnxAsync(hub, cache, ["pull", "not-an-id"]);
        Assert.AreEqual(2, badId.ExitCode, badId.StandardError);
        StringAssert.Contains(badId.StandardError, "org/name");

        // ./org/gated exists here: it is converted, and the Hub is not asked.
        string workingDirectory = TestFixtures.Scratch("hub-local");
        string local = Path.Combine(workingDirectory, "org", "gated");
        Directory.CreateDirectory(local);
        foreach (var file in Directory.GetFiles(TestFixtures.Hf("gemma")))
            File.Copy(file, Path.Combine(local, Path.GetFileName(file)));
        hub.ClearRequests();
        var convert = await OwonnxAsync(hub, cache, ["convert", "org/gated", "--output", Path.Combine(workingDirectory, "out")], workingDirectory: workingDirectory);
        Assert.AreEqual(0, convert.ExitCode, convert.StandardError);
        StringAssert.Contains(convert.StandardOutput, "GemmaForCausalLM");
        Assert.IsEmpty(hub.Requests);
    }

    [TestMethod]
    public async Task PullTakesRepeatedIncludeAndExcludeGlobs()
    {
        await using var hub = await FakeHub.StartAsync(FakeRepos.Llama(withTokenizer: false));
        string cache = TestFixtures.Scratch("hub-cache");
        var pull = await OwonnxAsync(hub, cache, ["pull", "tiny/llama", "--include", "*.json", "--include", "LICENSE", "--exclude", "generation_*"]);
        Assert.AreEqual(0, pull.ExitCode, pull.StandardError);
        string folder = pull.StandardOutput.Trim();
        CollectionAssert.AreEquivalent(new[] { "config.json", "LICENSE" }, Directory.GetFiles(folder).Select(Path.GetFileName).ToArray());
        StringAssert.Contains(pull.StandardError, "2 file(s) downloaded");
    }
}
