using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Tokenization;

/// <summary>What a user sees when a model folder's tokenizer cannot be built.</summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class TokenizerErrorTests
{
    [TestMethod]
    public void MissingTokenizerJsonNamesTheFolderAndTheFile()
    {
        string folder = TestFixtures.Scratch("no-tokenizer");
        var e = Assert.ThrowsExactly<TokenizerException>(() => TextTokenizer.FromFolder(folder));
        StringAssert.Contains(e.Message, folder);
        StringAssert.Contains(e.Message, "tokenizer.json not found");
    }

    [TestMethod]
    public void OnlyASentencePieceModelFileIsExplained()
    {
        string folder = TestFixtures.Scratch("only-spm");
        File.WriteAllBytes(Path.Combine(folder, "tokenizer.model"), [0x0a, 0x00]);
        var e = Assert.ThrowsExactly<TokenizerException>(() => TextTokenizer.FromFolder(folder));
        StringAssert.Contains(e.Message, "tokenizer.json not found");
        StringAssert.Contains(e.Message, "tokenizer.model");
    }

    [TestMethod]
    public void MissingFolderIsNamed()
    {
        string folder = Path.Combine(TestFixtures.Scratch("parent"), "absent");
        var e = Assert.ThrowsExactly<TokenizerException>(() => TextTokenizer.FromFolder(folder));
        StringAssert.Contains(e.Message, folder);
    }

    [TestMethod]
    public void UnsupportedModelTypeNamesTheFileAndTheType()
    {
        string folder = TestFixtures.Scratch("wordpiece");
        string path = Path.Combine(folder, "tokenizer.json");
        File.WriteAllText(path, """{"added_tokens": [], "model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}}""");
        var e = Assert.ThrowsExactly<TokenizerException>(() => TextTokenizer.FromFolder(folder));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "WordPiece");
    }

    [TestMethod]
    public void UnsupportedPreTokenizerNamesTheFileAndTheComponent()
    {
        string folder = TestFixtures.Scratch("bert-pre");
        string path = Path.Combine(folder, "tokenizer.json");
        File.WriteAllText(path, """
            {"added_tokens": [], "normalizer": null,
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "BertPreTokenizer"}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]},
             "post_processor": null, "decoder": {"type": "ByteLevel"},
             "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
            """);
        var e = Assert.ThrowsExactly<TokenizerException>(() => TextTokenizer.FromFolder(folder));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "BertPreTokenizer");
    }

    [TestMethod]
    public void InvalidJsonNamesTheFile()
    {
        string folder = TestFixtures.Scratch("bad-json");
        string path = Path.Combine(folder, "tokenizer.json");
        File.WriteAllText(path, "{ not json");
        var e = Assert.ThrowsExactly<TokenizerException>(() => TextTokenizer.FromFolder(folder));
        StringAssert.Contains(e.Message, path);
    }
}
