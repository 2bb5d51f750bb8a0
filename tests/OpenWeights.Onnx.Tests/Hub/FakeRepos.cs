using System.Text;
using OpenWeights.Onnx.Hub;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Hub;

/// <summary>Fake repos built from the reference fixtures, and settings that point a client at a fake Hub.</summary>
public static class FakeRepos
{
    private static readonly Lazy<byte[]> Tokenizer = new(() => File.ReadAllBytes(Path.Combine(TestFixtures.Tokenizers("qwen3"), "tokenizer.json")));

    /// <summary>The llama fixture as a real repo has it: LFS weights and tokenizer, git-stored configs, plus files a pull must skip.</summary>
    public static FakeRepo Llama(string id = "tiny/llama", bool withTokenizer = true)
    {
        string folder = TestFixtures.Hf("llama");
        var files = new Dictionary<string, FakeFile>
        {
            ["config.json"] = new(File.ReadAllBytes(Path.Combine(folder, "config.json")), Lfs: false),
            ["generation_config.json"] = new(File.ReadAllBytes(Path.Combine(folder, "generation_config.json")), Lfs: false),
            ["model.safetensors"] = new(File.ReadAllBytes(Path.Combine(folder, "model.safetensors")), Lfs: true),
            ["README.md"] = new(Encoding.UTF8.GetBytes("---\nlicense: apache-2.0\n---\n# tiny llama\n"), Lfs: false),
            ["LICENSE"] = new(Encoding.UTF8.GetBytes("Apache License 2.0\n"), Lfs: false),
            [".gitattributes"] = new(Encoding.UTF8.GetBytes("*.safetensors filter=lfs diff=lfs merge=lfs -text\n"), Lfs: false),
            // Must never be downloaded: a pickle, and a file outside the default set.
            ["pytorch_model.bin"] = new(Encoding.UTF8.GetBytes("not really a pickle"), Lfs: true),
            ["images/diagram.png"] = new([1, 2, 3], Lfs: false),
        };
        if (withTokenizer)
        {
            files["tokenizer.json"] = new(Tokenizer.Value, Lfs: true);
            files["tokenizer_config.json"] = new(File.ReadAllBytes(Path.Combine(TestFixtures.Tokenizers("qwen3"), "tokenizer_config.json")), Lfs: false);
        }
        return new FakeRepo(id, files);
    }

    public static FakeRepo PicklesOnly() => new("tiny/pickles", new()
    {
        ["config.json"] = new(File.ReadAllBytes(Path.Combine(TestFixtures.Hf("llama"), "config.json")), Lfs: false),
        ["pytorch_model.bin"] = new(Encoding.UTF8.GetBytes("pickle"), Lfs: true),
    });

    public static HubSettings Settings(FakeHub hub, string? token = null, bool offline = false, int attempts = 5) => new()
    {
        Endpoint = hub.Endpoint,
        CacheDirectory = TestFixtures.Scratch("hub-cache"),
        Token = token,
        TokenSource = token is null ? "none" : "HF_TOKEN",
        Offline = offline,
        TransferAttempts = attempts,
        RequestTimeout = TimeSpan.FromSeconds(20),
    };
}
