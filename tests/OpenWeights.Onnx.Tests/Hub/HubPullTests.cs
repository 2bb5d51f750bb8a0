using System.Security.Cryptography;
using OpenWeights.Onnx.Hub;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hub;

/// <summary>
/// Pulls from a fake Hub on loopback that speaks the Hub's protocol: the cache layout huggingface_hub reads,
/// resume with Range after a cut, checksum failures, gated and missing repos, no network, offline mode and
/// reuse of the cache without requests.
/// </summary>
[TestClass]
[TestCategory(Category.Process)]
public sealed class HubPullTests
{
    private static async Task<HubSnapshot> PullAsync(HubSettings settings, string id, HubFileSelection? selection = null,
        IProgress<PullProgress>? progress = null)
    {
        using var puller = new HubPuller(settings);
        return await puller.PullAsync(HubRepoId.Parse(id), selection, progress);
    }

    /// <summary>Keeps every report (the puller serialises them), in order.</summary>
    private sealed class RecordingProgress : IProgress<PullProgress>
    {
        public List<PullProgress> Reports { get; } = [];
        public void Report(PullProgress value) => Reports.Add(value);
    }

    /// <summary>
    /// The rules huggingface_hub's cache scanner (<c>scan_cache_dir</c>) enforces, which it reports as a corrupted
    /// cache: snapshots/ exists, every snapshot entry resolves to an existing blob, every ref names a snapshot.
    /// </summary>
    private static void AssertScannableCache(string repoFolder)
    {
        string snapshots = Path.Combine(repoFolder, "snapshots"), blobs = Path.Combine(repoFolder, "blobs");
        Assert.IsTrue(Directory.Exists(snapshots), "snapshots/ exists");
        foreach (string entry in Directory.GetFiles(snapshots, "*", SearchOption.AllDirectories))
        {
            var target = new FileInfo(entry).ResolveLinkTarget(returnFinalTarget: true);
            Assert.IsNotNull(target, $"{entry} is a link");
            Assert.IsTrue(target.Exists, $"{entry} links to an existing blob");
            Assert.AreEqual(Path.GetFullPath(blobs), Path.GetDirectoryName(target.FullName), entry);
            Assert.IsFalse(target.Name.EndsWith(".incomplete"), entry);
        }
        string refs = Path.Combine(repoFolder, "refs");
        if (Directory.Exists(refs))
            foreach (string reference in Directory.GetFiles(refs, "*", SearchOption.AllDirectories))
                Assert.IsTrue(Directory.Exists(Path.Combine(snapshots, File.ReadAllText(reference))), $"{reference} names a snapshot");
    }

    private static string Sha256Of(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [TestMethod]
    public async Task PullLaysOutTheCacheAsHuggingfaceHubDoes()
    {
        var repo = FakeRepos.Llama();
        await using var hub = await FakeHub.StartAsync(repo);
        var settings = FakeRepos.Settings(hub);

        var progress = new RecordingProgress();
        var snapshot = await PullAsync(settings, "tiny/llama", progress: progress);

        long lfsBytes = repo.Files.Where(f => f.Key is "model.safetensors" or "tokenizer.json").Sum(f => (long)f.Value.Content.Length);
        var last = progress.Reports[^1];
        Assert.AreEqual((7, 7), (last.FilesDone, last.FilesTotal), "one display for all files");
        Assert.AreEqual(last.BytesTotal, last.BytesDone);
        Assert.IsGreaterThanOrEqualTo(lfsBytes, last.BytesDone);
        Assert.IsTrue(progress.Reports.Zip(progress.Reports.Skip(1)).All(p => p.Second.BytesDone >= p.First.BytesDone), "progress never goes back");

        string repoFolder = Path.Combine(settings.CacheDirectory, "models--tiny--llama");
        Assert.AreEqual(Path.Combine(repoFolder, "snapshots", repo.Commit), snapshot.Folder);
        Assert.AreEqual(repo.Commit, File.ReadAllText(Path.Combine(repoFolder, "refs", "main")), "refs/main holds the bare commit");
        string[] expected = ["LICENSE", "README.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"];
        CollectionAssert.AreEquivalent(expected, Directory.GetFiles(snapshot.Folder).Select(Path.GetFileName).ToArray());
        foreach (string name in expected)
        {
            var link = new FileInfo(Path.Combine(snapshot.Folder, name));
            var file = repo.Files[name];
            // Blobs are named by ETag: the sha256 for LFS files, git's blob id for the others.
            string expectedEtag = file.Lfs ? Convert.ToHexStringLower(SHA256.HashData(file.Content)) : file.GitBlobId;
            Assert.AreEqual($"../../blobs/{expectedEtag}", link.LinkTarget, $"{name} is a relative link to its blob");
            CollectionAssert.AreEqual(file.Content, File.ReadAllBytes(link.FullName), name);
        }
        Assert.AreEqual(Sha256Of(Path.Combine(TestFixtures.Hf("llama"), "model.safetensors")), Sha256Of(Path.Combine(snapshot.Folder, "model.safetensors")));
        Assert.IsEmpty(Directory.GetFiles(Path.Combine(repoFolder, "blobs"), "*.incomplete"));
        AssertScannableCache(repoFolder);
        Assert.AreEqual(7, snapshot.Downloaded);
        // LFS bytes came from the storage origin, after a redirect.
        Assert.IsTrue(hub.Requests.Any(r => r.Storage && r.Method == "GET" && r.Path.EndsWith(repo.Files["model.safetensors"].Sha256)));
        Assert.IsFalse(hub.Requests.Any(r => r.Path.Contains("pytorch_model.bin") || r.Path.Contains("diagram.png") || r.Path.Contains(".gitattributes")),
            "pickles and files outside the default set are never requested");
    }

    [TestMethod]
    public async Task ACachedModelIsReusedWithoutDownloadsAndResolvedWithoutAnyRequest()
    {
        await using var hub = await FakeHub.StartAsync(FakeRepos.Llama(withTokenizer: false));
        var settings = FakeRepos.Settings(hub);
        var first = await PullAsync(settings, "tiny/llama");
        hub.ClearRequests();

        var again = await PullAsync(settings, "tiny/llama");
        Assert.AreEqual(first.Folder, again.Folder);
        Assert.AreEqual(0, again.Downloaded);
        Assert.HasCount(1, hub.Requests, "a second pull only asks which commit main is: " + string.Join(", ", hub.Requests.Select(r => r.Path)));
        StringAssert.StartsWith(hub.Requests.Single().Path, "/api/models/tiny/llama/revision/main");

        hub.ClearRequests();
        string folder = await HubCheckpoint.ResolveAsync("tiny/llama", settings);
        Assert.AreEqual(first.Folder, folder);
        string offline = await HubCheckpoint.ResolveAsync("tiny/llama", settings with { Offline = true });
        Assert.AreEqual(first.Folder, offline);
        string byCommit = await HubCheckpoint.ResolveAsync("tiny/llama@" + Path.GetFileName(first.Folder), settings);
        Assert.AreEqual(first.Folder, byCommit);
        Assert.IsEmpty(hub.Requests, "a cached model resolves with no request at all");
    }

    [TestMethod]
    public async Task ACutTransferResumesWithARangeRequestInTheSamePull()
    {
        var repo = FakeRepos.Llama(withTokenizer: false);
        repo.Cuts["model.safetensors"] = 1;
        await using var hub = await FakeHub.StartAsync(repo);
        var settings = FakeRepos.Settings(hub);

        var snapshot = await PullAsync(settings, "tiny/llama");

        Assert.IsTrue(hub.CutAfter.TryPeek(out long sent));
        var ranged = hub.Requests.Where(r => r.Storage && r.Range is not null).ToList();
        Assert.HasCount(1, ranged);
        long from = long.Parse(ranged[0].Range!["bytes=".Length..^1]);
        Assert.IsTrue(from > 0 && from <= sent, $"resumed from {from}, {sent} bytes were sent before the cut");
        Assert.AreEqual(repo.Files["model.safetensors"].Sha256, Sha256Of(Path.Combine(snapshot.Folder, "model.safetensors")));
    }

    [TestMethod]
    public async Task AnInterruptedPullLinksNothingPartialAndTheNextPullResumesFromTheIncompleteBlob()
    {
        var repo = FakeRepos.Llama(withTokenizer: false);
        repo.Cuts["model.safetensors"] = 1;
        await using var hub = await FakeHub.StartAsync(repo);
        var settings = FakeRepos.Settings(hub, attempts: 1);
        string sha = repo.Files["model.safetensors"].Sha256;

        var error = await Assert.ThrowsExactlyAsync<HubException>(() => PullAsync(settings, "tiny/llama"));
        StringAssert.Contains(error.Message, "model.safetensors");
        StringAssert.Contains(error.Message, "resumes from");

        string repoFolder = Path.Combine(settings.CacheDirectory, "models--tiny--llama");
        string incomplete = Path.Combine(repoFolder, "blobs", sha + ".incomplete");
        Assert.IsTrue(File.Exists(incomplete), "the partial download is kept for resuming");
        long partial = new FileInfo(incomplete).Length;
        Assert.IsTrue(partial > 0 && partial < repo.Files["model.safetensors"].Content.Length);
        Assert.IsFalse(File.Exists(Path.Combine(repoFolder, "blobs", sha)));
        string snapshotFile = Path.Combine(repoFolder, "snapshots", repo.Commit, "model.safetensors");
        Assert.IsNull(new FileInfo(snapshotFile).LinkTarget, "no snapshot link to a partial blob");
        Assert.IsFalse(File.Exists(snapshotFile));
        Assert.IsFalse(File.Exists(Path.Combine(repoFolder, "refs", "main")), "refs/main moves only when the snapshot is whole");
        AssertScannableCache(repoFolder);

        hub.ClearRequests();
        var snapshot = await PullAsync(settings with { TransferAttempts = 5 }, "tiny/llama");
        var storageGets = hub.Requests.Where(r => r.Storage && r.Method == "GET").ToList();
        Assert.HasCount(1, storageGets);
        Assert.AreEqual($"bytes={partial}-", storageGets[0].Range, "the second pull asks only for the missing bytes");
        Assert.AreEqual(sha, Sha256Of(Path.Combine(snapshot.Folder, "model.safetensors")));
        Assert.IsFalse(File.Exists(incomplete));
        Assert.AreEqual(1, snapshot.Downloaded, "the configs were already linked by the interrupted pull");
    }

    [TestMethod]
    public async Task AFileFailingItsChecksumIsDeletedAndNeverLinked()
    {
        var repo = FakeRepos.Llama(withTokenizer: false);
        repo.Corrupted.Add("model.safetensors");
        await using var hub = await FakeHub.StartAsync(repo);
        var settings = FakeRepos.Settings(hub);
        string sha = repo.Files["model.safetensors"].Sha256;

        var error = await Assert.ThrowsExactlyAsync<HubException>(() => PullAsync(settings, "tiny/llama"));
        StringAssert.Contains(error.Message, "model.safetensors failed its checksum");
        StringAssert.Contains(error.Message, sha);

        string repoFolder = Path.Combine(settings.CacheDirectory, "models--tiny--llama");
        Assert.IsFalse(File.Exists(Path.Combine(repoFolder, "snapshots", repo.Commit, "model.safetensors")));
        Assert.IsFalse(File.Exists(Path.Combine(repoFolder, "blobs", sha)));
        Assert.IsFalse(File.Exists(Path.Combine(repoFolder, "blobs", sha + ".incomplete")), "a corrupt download is not kept for resuming");
        AssertScannableCache(repoFolder);
    }

    [TestMethod]
    public async Task AGatedRepoWithoutATokenSaysToAcceptTheLicenceAndSetHfToken()
    {
        var repo = FakeRepos.Llama("org/gated", withTokenizer: false);
        await using var hub = await FakeHub.StartAsync(new FakeRepo(repo.Id, repo.Files) { RequiredToken = "hf_granted" });

        var error = await Assert.ThrowsExactlyAsync<HubException>(() => PullAsync(FakeRepos.Settings(hub), "org/gated"));
        StringAssert.Contains(error.Message, "401");
        StringAssert.Contains(error.Message, "gated");
        StringAssert.Contains(error.Message, "accept its licence on " + hub.Endpoint.AbsoluteUri + "org/gated");
        StringAssert.Contains(error.Message, "HF_TOKEN");
        StringAssert.Contains(error.Message, "No token was sent");

        hub.ClearRequests();
        var snapshot = await PullAsync(FakeRepos.Settings(hub, token: "hf_granted"), "org/gated");
        Assert.IsTrue(File.Exists(Path.Combine(snapshot.Folder, "model.safetensors")));
        Assert.IsTrue(hub.Requests.Where(r => !r.Storage).All(r => r.Authorization == "Bearer hf_granted"));
        var storage = hub.Requests.Where(r => r.Storage).ToList();
        Assert.IsNotEmpty(storage);
        Assert.IsTrue(storage.All(r => r.Authorization is null), "the token never goes to the storage origin");
    }

    [TestMethod]
    public async Task AMissingRepoOrRevisionIsNamed()
    {
        await using var hub = await FakeHub.StartAsync(FakeRepos.Llama(withTokenizer: false));
        var settings = FakeRepos.Settings(hub);

        var repo = await Assert.ThrowsExactlyAsync<HubException>(() => PullAsync(settings, "tiny/nope"));
        StringAssert.Contains(repo.Message, "tiny/nope: repository not found");
        var asCheckpoint = await Assert.ThrowsExactlyAsync<HubException>(() => HubCheckpoint.ResolveAsync("tiny/nope", settings));
        StringAssert.StartsWith(asCheckpoint.Message, "'tiny/nope' is not a folder here; as a Hub model: tiny/nope: repository not found");

        var revision = await Assert.ThrowsExactlyAsync<HubException>(() => PullAsync(settings, "tiny/llama@v9"));
        StringAssert.Contains(revision.Message, "tiny/llama: revision 'v9' not found");
    }

    [TestMethod]
    public async Task AnUnreachableEndpointIsNamed()
    {
        // A port that was free a moment ago: nothing listens there.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var settings = new HubSettings { Endpoint = new Uri($"http://127.0.0.1:{port}"), CacheDirectory = TestFixtures.Scratch("hub-cache") };

        var error = await Assert.ThrowsExactlyAsync<HubException>(() => PullAsync(settings, "tiny/llama"));
        StringAssert.Contains(error.Message, $"cannot reach http://127.0.0.1:{port}");
        StringAssert.Contains(error.Message, "HF_HUB_OFFLINE=1");
    }

    [TestMethod]
    public async Task OfflineModeSendsNothingAndSaysWhatIsMissing()
    {
        await using var hub = await FakeHub.StartAsync(FakeRepos.Llama(withTokenizer: false));
        var settings = FakeRepos.Settings(hub, offline: true);

        var pull = await Assert.ThrowsExactlyAsync<HubException>(() => PullAsync(settings, "tiny/llama"));
        StringAssert.Contains(pull.Message, "HF_HUB_OFFLINE");
        var resolve = await Assert.ThrowsExactlyAsync<HubException>(() => HubCheckpoint.ResolveAsync("tiny/llama", settings));
        StringAssert.Contains(resolve.Message, "HF_HUB_OFFLINE");
        Assert.IsEmpty(hub.Requests);

        var online = await PullAsync(settings with { Offline = false }, "tiny/llama");
        hub.ClearRequests();
        var cached = await PullAsync(settings, "tiny/llama");
        Assert.AreEqual(online.Folder, cached.Folder);
        Assert.IsEmpty(hub.Requests);
    }

    [TestMethod]
    public async Task ARepoWithOnlyPickledWeightsIsRefusedWithTheReason()
    {
        await using var hub = await FakeHub.StartAsync(FakeRepos.PicklesOnly());
        var error = await Assert.ThrowsExactlyAsync<HubException>(() => PullAsync(FakeRepos.Settings(hub), "tiny/pickles"));
        StringAssert.Contains(error.Message, "pytorch_model.bin");
        StringAssert.Contains(error.Message, "arbitrary code");
        Assert.IsFalse(hub.Requests.Any(r => r.Path.Contains("resolve")), "nothing was downloaded");
    }

    [TestMethod]
    public async Task IncludeAndExcludePatternsChooseTheFiles()
    {
        await using var hub = await FakeHub.StartAsync(FakeRepos.Llama(withTokenizer: false));
        var settings = FakeRepos.Settings(hub);
        var snapshot = await PullAsync(settings, "tiny/llama", new HubFileSelection(include: ["*.json", "*.bin"], exclude: ["generation_*"]));
        CollectionAssert.AreEquivalent(new[] { "config.json" }, Directory.GetFiles(snapshot.Folder).Select(Path.GetFileName).ToArray(),
            "*.bin matched a pickle, which is never downloaded");
    }

    [TestMethod]
    public async Task ARenamedRepoIsFollowedThroughTheHubsRelativeRedirect()
    {
        var repo = FakeRepos.Llama(withTokenizer: false);
        await using var hub = await FakeHub.StartAsync(repo);
        hub.Renamed["old-org/llama"] = "tiny/llama";
        var settings = FakeRepos.Settings(hub);

        var snapshot = await PullAsync(settings, "old-org/llama");
        // Cached under the name asked for, as huggingface_hub does.
        Assert.AreEqual(Path.Combine(settings.CacheDirectory, "models--old-org--llama", "snapshots", repo.Commit), snapshot.Folder);
        Assert.AreEqual(repo.Files["model.safetensors"].Sha256, Sha256Of(Path.Combine(snapshot.Folder, "model.safetensors")));
        Assert.IsTrue(hub.Requests.Any(r => r.Path.StartsWith("/old-org/llama/resolve/")));
    }

    [TestMethod]
    public async Task ASnapshotEntryWhoseBlobIsCachedIsRelinkedWithoutDownloading()
    {
        var repo = FakeRepos.Llama(withTokenizer: false);
        await using var hub = await FakeHub.StartAsync(repo);
        var settings = FakeRepos.Settings(hub);
        var first = await PullAsync(settings, "tiny/llama");
        File.Delete(Path.Combine(first.Folder, "model.safetensors"));
        hub.ClearRequests();

        var again = await PullAsync(settings, "tiny/llama");
        Assert.AreEqual(0, again.Downloaded);
        Assert.IsFalse(hub.Requests.Any(r => r.Method == "GET" && !r.Path.StartsWith("/api/")), "no file body was requested");
        Assert.AreEqual(1, hub.Requests.Count(r => r.Method == "HEAD"), "one HEAD learns the blob name");
        Assert.AreEqual($"../../blobs/{repo.Files["model.safetensors"].Sha256}", new FileInfo(Path.Combine(again.Folder, "model.safetensors")).LinkTarget);
    }
}
