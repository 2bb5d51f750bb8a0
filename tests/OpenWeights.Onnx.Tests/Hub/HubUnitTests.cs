using OpenWeights.Onnx.Hub;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hub;

/// <summary>The Hub client's pure parts: settings from the environment, repo ids, file selection, protocol parsing.</summary>
[TestClass]
[TestCategory(Category.Unit)]
public sealed class HubUnitTests
{
    private static HubSettings FromEnvironment(Dictionary<string, string> env) =>
        HubSettings.FromEnvironment(name => env.TryGetValue(name, out var value) ? value : null);

    [TestMethod]
    public void SettingsFollowHuggingfaceHubsEnvironmentVariables()
    {
        string home = TestFixtures.Scratch("hf-home");
        File.WriteAllText(Path.Combine(home, "token"), "hf_fromfile\n");

        var fromHome = FromEnvironment(new() { ["HF_HOME"] = home, ["HF_ENDPOINT"] = "http://127.0.0.1:9/" });
        Assert.AreEqual(Path.Combine(home, "hub"), fromHome.CacheDirectory);
        Assert.AreEqual("hf_fromfile", fromHome.Token, "the token file's newline is stripped");
        StringAssert.Contains(fromHome.TokenSource, "token file");
        Assert.AreEqual("http://127.0.0.1:9/", fromHome.Endpoint.AbsoluteUri);
        Assert.IsFalse(fromHome.Offline);

        var explicitly = FromEnvironment(new()
        {
            ["HF_HOME"] = home, ["HF_HUB_CACHE"] = "/elsewhere/hub", ["HF_TOKEN"] = " hf_env ", ["HF_HUB_OFFLINE"] = "yes",
        });
        Assert.AreEqual("/elsewhere/hub", explicitly.CacheDirectory);
        Assert.AreEqual("hf_env", explicitly.Token, "HF_TOKEN wins over the token file");
        Assert.AreEqual("HF_TOKEN", explicitly.TokenSource);
        Assert.IsTrue(explicitly.Offline);

        var defaults = FromEnvironment(new() { ["XDG_CACHE_HOME"] = "/xdg" });
        Assert.AreEqual("/xdg/huggingface/hub", defaults.CacheDirectory);
        Assert.AreEqual("https://huggingface.co/", defaults.Endpoint.AbsoluteUri);

        foreach (var (value, offline) in new[] { ("1", true), ("TRUE", true), ("on", true), ("0", false), ("no", false), ("", false) })
            Assert.AreEqual(offline, HubSettings.IsTrue(value), value);
        Assert.ThrowsExactly<ArgumentException>(() => FromEnvironment(new() { ["HF_ENDPOINT"] = "ftp://x" }));
    }

    [TestMethod]
    public void RepoIdsParseWithAnOptionalRevisionAndNameTheirCacheFolder()
    {
        var plain = HubRepoId.Parse("TinyLlama/TinyLlama-1.1B-Chat-v1.0");
        Assert.AreEqual("TinyLlama/TinyLlama-1.1B-Chat-v1.0", plain.Id);
        Assert.AreEqual("main", plain.Revision);
        Assert.AreEqual("models--TinyLlama--TinyLlama-1.1B-Chat-v1.0", plain.CacheFolderName);

        var pr = HubRepoId.Parse("org/name@refs/pr/3");
        Assert.AreEqual("refs/pr/3", pr.Revision);
        Assert.AreEqual("org/name@refs/pr/3", pr.ToString());

        foreach (string bad in new[] { "name", "a/b/c", "../x", "org/../x", "org/na--me", "org/name@", "org/name@../x", "/abs/path", "./folder" })
            Assert.IsNull(HubRepoId.TryParse(bad), bad);
    }

    [TestMethod]
    public void DefaultSelectionTakesWhatConversionNeedsAndNeverPickles()
    {
        var selection = HubFileSelection.Default;
        foreach (string wanted in new[] { "config.json", "generation_config.json", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
                     "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "chat_template.jinja", "LICENSE", "README.md" })
            Assert.IsTrue(selection.Selects(wanted), wanted);
        foreach (string skipped in new[] { "pytorch_model.bin", "model.pt", "consolidated.pth", ".gitattributes", "onnx/model.onnx", "original/params.json", "images/a.png" })
            Assert.IsFalse(selection.Selects(skipped), skipped);

        var custom = new HubFileSelection(include: ["*.json", "original/*"], exclude: ["original/*.pth"]);
        Assert.IsTrue(custom.Selects("original/params.json"));
        Assert.IsFalse(custom.Selects("original/consolidated.pth"));
        Assert.IsFalse(new HubFileSelection(include: ["*"]).Selects("pytorch_model.bin"), "pickles stay out even when asked for");
        Assert.IsTrue(new Glob("model-0000[1-2]-of-*.safetensors").IsMatch("model-00002-of-00002.safetensors"));
        Assert.IsTrue(new Glob("onnx/").IsMatch("onnx/model.onnx"));
    }

    [TestMethod]
    public void RevisionAnswerAndEtagsParseAsTheHubSendsThem()
    {
        const string json = """
            {"_id":"x","id":"org/name","sha":"0123456789abcdef0123456789abcdef01234567","siblings":[
              {"rfilename":"config.json","blobId":"aa","size":671},
              {"rfilename":"model.safetensors","blobId":"bb","size":609640,
               "lfs":{"size":609640,"sha256":"5f2b1c0d5f2b1c0d5f2b1c0d5f2b1c0d5f2b1c0d5f2b1c0d5f2b1c0d5f2b1c0d","pointerSize":134}}]}
            """;
        var revision = HubRevision.Parse(HubRepoId.Parse("org/name"), json);
        Assert.AreEqual("0123456789abcdef0123456789abcdef01234567", revision.Commit);
        Assert.AreEqual(new HubRepoFile("config.json", 671, null), revision.Files[0]);
        Assert.IsTrue(revision.Files[1].IsLfs);
        Assert.AreEqual(609640, revision.Files[1].Size);

        Assert.ThrowsExactly<HubException>(() => HubRevision.Parse(HubRepoId.Parse("org/name"), """{"siblings":[]}"""));
        Assert.AreEqual("abc", HubFileMetadata.NormalizeEtag("\"abc\""));
        Assert.AreEqual("abc", HubFileMetadata.NormalizeEtag("W/\"abc\""));
    }

    [TestMethod]
    public void ResolveAddressesEscapeTheRevisionWholeAndThePathBySegment()
    {
        var settings = new HubSettings { Endpoint = new Uri("https://hub.example"), CacheDirectory = "/tmp/x" };
        using var http = new HubHttp(settings);
        var uri = new HubApi(http).ResolveUri(HubRepoId.Parse("org/name"), "refs/pr/1", "sub dir/file.json");
        Assert.AreEqual("https://hub.example/org/name/resolve/refs%2Fpr%2F1/sub%20dir/file.json", uri.AbsoluteUri);
    }

    [TestMethod]
    public void ACachedSnapshotIsCompleteOnlyWithConfigAndEveryShard()
    {
        string folder = TestFixtures.Scratch("snapshot");
        Assert.IsFalse(CachedCheckpoint.IsComplete(folder));
        File.WriteAllText(Path.Combine(folder, "config.json"), "{}");
        Assert.IsFalse(CachedCheckpoint.IsComplete(folder));
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"),
            """{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}""");
        File.WriteAllText(Path.Combine(folder, "model-00001-of-00002.safetensors"), "x");
        Assert.IsFalse(CachedCheckpoint.IsComplete(folder), "one shard missing");
        File.WriteAllText(Path.Combine(folder, "model-00002-of-00002.safetensors"), "x");
        Assert.IsTrue(CachedCheckpoint.IsComplete(folder));
    }
}
