using Google.Protobuf;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hostile;

/// <summary>
/// Never lose data: outputs that are, hold or lie inside the input; --overwrite on folders owonnx did not write; what
/// killed runs left behind. Every refusal leaves the input and any existing folder byte for byte as they were.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class HostileOutputTests
{
    private static string Snapshot(string dir) =>
        string.Join("\n", Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(p => $"{Path.GetRelativePath(dir, p)}:{(File.Exists(p) ? new FileInfo(p).Length : -1)}"));

    private static IOException RefusedOutput(string checkpoint, string output, bool overwrite, string fragment)
    {
        string before = Snapshot(checkpoint);
        var e = Assert.ThrowsExactly<IOException>(() =>
            HostileInput.Converter.Convert(checkpoint, output, new ConversionOptions { Overwrite = overwrite }));
        StringAssert.Contains(e.Message, fragment);
        Assert.AreEqual(before, Snapshot(checkpoint), "the input must be untouched");
        return e;
    }

    [TestMethod]
    [DataRow("", true)]
    [DataRow("", false)]
    [DataRow("/.", true)]
    [DataRow("/", true)]
    [DataRow("/../{name}", true)]
    public void OutputThatIsTheInputIsRefused(string suffix, bool overwrite)
    {
        string dir = HostileInput.CopyFixture("llama");
        RefusedOutput(dir, dir + suffix.Replace("{name}", Path.GetFileName(dir)), overwrite, "is the input folder");
    }

    [TestMethod]
    [DataRow("model")]
    [DataRow("a/b/c")]
    public void OutputInsideTheInputIsRefused(string inner)
    {
        string dir = HostileInput.CopyFixture("llama");
        RefusedOutput(dir, Path.Combine(dir, inner), true, "lies inside the input folder");
        Assert.IsFalse(Directory.Exists(Path.Combine(dir, inner.Split('/')[0])));
    }

    [TestMethod]
    public void OutputHoldingTheInputIsRefused()
    {
        string dir = HostileInput.CopyFixture("llama");
        RefusedOutput(dir, Path.GetDirectoryName(dir)!, true, "contains the input folder");
    }

    [TestMethod]
    public void OutputThroughALinkToTheInputIsRefused()
    {
        string dir = HostileInput.CopyFixture("llama");
        string link = Path.Combine(TestFixtures.Scratch("hostile-link"), "alias");
        Directory.CreateSymbolicLink(link, dir);
        RefusedOutput(dir, link, true, "is the input folder");
        RefusedOutput(dir, Path.Combine(link, "out"), true, "lies inside the input folder");
    }

    [TestMethod]
    public void InputThroughALinkInsideTheOutputIsRefused()
    {
        string parent = TestFixtures.Scratch("hostile-linked-input");
        string real = Path.Combine(parent, "out", "ckpt");
        Directory.CreateDirectory(Path.GetDirectoryName(real)!);
        Directory.Move(HostileInput.CopyFixture("llama"), real);
        string link = Path.Combine(TestFixtures.Scratch("hostile-link"), "ckpt");
        Directory.CreateSymbolicLink(link, real);
        RefusedOutput(link, Path.Combine(parent, "out"), true, "contains the input folder");
    }

    private static string Folder(params (string Name, string? Text)[] entries)
    {
        string dir = Path.Combine(TestFixtures.Scratch("hostile-existing"), "model");
        Directory.CreateDirectory(dir);
        foreach (var (name, text) in entries)
        {
            if (text is null) Directory.CreateDirectory(Path.Combine(dir, name));
            else if (name == ModelConverter.ModelFile) WriteModel(Path.Combine(dir, name), text);
            else File.WriteAllText(Path.Combine(dir, name), text);
        }
        return dir;
    }

    /// <summary>A model.onnx whose producer_name is <paramref name="producer"/>.</summary>
    private static void WriteModel(string path, string producer)
    {
        using var stream = File.Create(path);
        new ModelProto { IrVersion = 10, ProducerName = producer }.WriteTo(stream);
    }

    [TestMethod]
    [DataRow("notes.txt", "not an owonnx output")]
    [DataRow("config.json", "not an owonnx output")]
    [DataRow("model.safetensors", "not an owonnx output")]
    public void OverwriteOfAForeignFolderIsRefused(string file, string fragment)
    {
        string dir = Folder((file, "mine"));
        string before = Snapshot(dir);
        var e = Assert.ThrowsExactly<IOException>(() => new OutputFolder(dir, overwrite: true).Dispose());
        StringAssert.Contains(e.Message, fragment);
        Assert.AreEqual(before, Snapshot(dir));
    }

    [TestMethod]
    public void OverwriteOfAnotherToolsModelIsRefused()
    {
        string dir = Folder((ModelConverter.ModelFile, "pytorch"), (GenAiConfigWriter.FileName, "{}"));
        var e = Assert.ThrowsExactly<IOException>(() => new OutputFolder(dir, overwrite: true).Dispose());
        StringAssert.Contains(e.Message, "written by 'pytorch'");
    }

    [TestMethod]
    [DataRow("thesis.pdf", "thesis.pdf")]
    [DataRow("checkpoints", "checkpoints")]
    public void OverwriteOfAnOutputHoldingSomethingElseIsRefused(string extra, string fragment)
    {
        string dir = Folder((ModelConverter.ModelFile, "owonnx"), (GenAiConfigWriter.FileName, "{}"),
            (extra, extra.Contains('.') ? "x" : null));
        var e = Assert.ThrowsExactly<IOException>(() => new OutputFolder(dir, overwrite: true).Dispose());
        StringAssert.Contains(e.Message, fragment);
        Assert.IsTrue(Path.Exists(Path.Combine(dir, extra)));
    }

    [TestMethod]
    public void ExistingFolderWithoutOverwriteIsRefused()
    {
        string dir = Folder((ModelConverter.ModelFile, "owonnx"), (GenAiConfigWriter.FileName, "{}"));
        var e = Assert.ThrowsExactly<OutputExistsException>(() => new OutputFolder(dir, overwrite: false).Dispose());
        StringAssert.Contains(e.Message, "Overwrite");
    }

    [TestMethod]
    public void OutputThatIsAFileIsRefused()
    {
        string file = Path.Combine(TestFixtures.Scratch("hostile-file"), "model");
        File.WriteAllText(file, "mine");
        var e = Assert.ThrowsExactly<IOException>(() => new OutputFolder(file, overwrite: true).Dispose());
        StringAssert.Contains(e.Message, "is a file");
        Assert.AreEqual("mine", File.ReadAllText(file));
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void PreviousOwonnxOutputOrEmptyFolderIsReplaced(bool previousOutput)
    {
        string dir = previousOutput
            ? Folder((ModelConverter.ModelFile, "owonnx"), (GenAiConfigWriter.FileName, "{}"), ("tokenizer.json", "{}"))
            : Folder();
        using (var output = new OutputFolder(dir, overwrite: true))
        {
            File.WriteAllText(Path.Combine(output.Staging, "genai_config.json"), "new");
            output.Commit();
        }
        Assert.AreEqual("genai_config.json:3", Snapshot(dir));
        Assert.AreEqual(1, Directory.GetFileSystemEntries(Path.GetDirectoryName(dir)!).Length, "no staging, lock or backup may remain");
    }

    [TestMethod]
    public void AbandonedStagingLeavesNothing()
    {
        string parent = TestFixtures.Scratch("hostile-abandon");
        using (var output = new OutputFolder(Path.Combine(parent, "model"), overwrite: false))
            File.WriteAllText(Path.Combine(output.Staging, "model.onnx.data"), "half");
        Assert.AreEqual(0, Directory.GetFileSystemEntries(parent).Length);
    }

    private const string DeadRun = "999999998-0123456789abcdef0123456789abcdef";

    [TestMethod]
    [DataRow(".owonnx-staging-" + DeadRun + "-model", false)]
    [DataRow(".owonnx-staging-" + DeadRun + "-other", true)]
    public void StagingOfAKilledRunIsCleaned(string leftover, bool withStaleLock)
    {
        string parent = TestFixtures.Scratch("hostile-stale");
        Directory.CreateDirectory(Path.Combine(parent, leftover, "deep"));
        File.WriteAllText(Path.Combine(parent, leftover, "deep", "model.onnx.data"), new string('x', 1000));
        if (withStaleLock)
            File.WriteAllText(Path.Combine(parent, ".owonnx-lock-" + DeadRun), "");
        using (new OutputFolder(Path.Combine(parent, "model"), overwrite: false)) { }
        Assert.AreEqual(0, Directory.GetFileSystemEntries(parent).Length, Snapshot(parent));
    }

    [TestMethod]
    public void StagingWhoseLockIsHeldIsKept()
    {
        string parent = TestFixtures.Scratch("hostile-live");
        string run = $"{Environment.ProcessId}-fedcba9876543210fedcba9876543210";
        Directory.CreateDirectory(Path.Combine(parent, $".owonnx-staging-{run}-model"));
        using var held = new FileStream(Path.Combine(parent, ".owonnx-lock-" + run), FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        using (new OutputFolder(Path.Combine(parent, "other"), overwrite: false)) { }
        Assert.IsTrue(Directory.Exists(Path.Combine(parent, $".owonnx-staging-{run}-model")), "a live run's staging must survive");
    }

    [TestMethod]
    public void StagingOfALiveProcessWithoutLockIsKept()
    {
        string parent = TestFixtures.Scratch("hostile-live");
        // Our own process is alive; a staging without a lock file is only removed once its process is gone.
        string leftover = $".owonnx-staging-{Environment.ProcessId}-fedcba9876543210fedcba9876543211-model";
        Directory.CreateDirectory(Path.Combine(parent, leftover));
        using (new OutputFolder(Path.Combine(parent, "other"), overwrite: false)) { }
        Assert.IsTrue(Directory.Exists(Path.Combine(parent, leftover)));
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void PreviousOutputSetAsideByAKilledCommitIsRestoredOrDropped(bool finalExists)
    {
        string parent = TestFixtures.Scratch("hostile-previous");
        string previous = Path.Combine(parent, $".owonnx-previous-{DeadRun}-model");
        Directory.CreateDirectory(previous);
        File.WriteAllText(Path.Combine(previous, "genai_config.json"), "old");
        if (finalExists)
        {
            Directory.CreateDirectory(Path.Combine(parent, "model"));
            File.WriteAllText(Path.Combine(parent, "model", "genai_config.json"), "new");
        }
        using (new OutputFolder(Path.Combine(parent, "next"), overwrite: false)) { }
        Assert.AreEqual(finalExists ? "new" : "old", File.ReadAllText(Path.Combine(parent, "model", "genai_config.json")));
        Assert.IsFalse(Directory.Exists(previous));
    }

    [TestMethod]
    [DataRow(".owonnx-staging-notapid-model")]
    [DataRow(".owonnx-cache")]
    [DataRow(".git")]
    public void FoldersThatAreNotOurLeftoversAreNotTouched(string name)
    {
        string parent = TestFixtures.Scratch("hostile-unrelated");
        Directory.CreateDirectory(Path.Combine(parent, name));
        using (new OutputFolder(Path.Combine(parent, "model"), overwrite: false)) { }
        Assert.IsTrue(Directory.Exists(Path.Combine(parent, name)));
    }
}
