using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// Gives a random-weight checkpoint's converted folder a tokenizer, so that the server can load it: a real byte-level
/// BPE tokenizer (the sample's) whose vocabulary is padded with entries no text reaches (<c>&lt;unused_N&gt;</c>: no
/// merge builds them) up to exactly the model's vocabulary size, so that every id the random model emits decodes.
/// Tokenization is synthetic: what is measured with it is the engine, not a tokenizer of that size.
/// </summary>
public static class SyntheticTokenizer
{
    /// <summary>Writes tokenizer.json and tokenizer_config.json into <paramref name="modelFolder"/> unless it has a tokenizer.</summary>
    public static void EnsureIn(string modelFolder, string sourceFolder)
    {
        if (File.Exists(Path.Combine(modelFolder, "tokenizer.json")))
            return;
        var genai = JsonNode.Parse(File.ReadAllText(Path.Combine(modelFolder, "genai_config.json")))!;
        int vocabSize = genai["model"]!["vocab_size"]!.GetValue<int>();
        var tokenizer = JsonNode.Parse(File.ReadAllText(Path.Combine(sourceFolder, "tokenizer.json")))!;
        var vocab = tokenizer["model"]!["vocab"]!.AsObject();
        int used = vocab.Select(kv => kv.Value!.GetValue<int>())
            .Concat(tokenizer["added_tokens"]!.AsArray().Select(t => t!["id"]!.GetValue<int>())).Max() + 1;
        if (used > vocabSize)
            throw new InvalidOperationException($"{sourceFolder}: its tokenizer has {used} ids, more than the model's vocabulary of {vocabSize}.");
        for (int id = used; id < vocabSize; id++)
            vocab[$"<unused_{id}>"] = id;
        string target = Path.Combine(modelFolder, "tokenizer.json"), temporary = target + ".tmp";
        File.WriteAllText(temporary, tokenizer.ToJsonString());
        File.Copy(Path.Combine(sourceFolder, "tokenizer_config.json"), Path.Combine(modelFolder, "tokenizer_config.json"), overwrite: true);
        File.Move(temporary, target, overwrite: true);
        Console.Error.WriteLine($"{target}: synthetic tokenizer ({used} ids of {sourceFolder}, padded to {vocabSize} with unreachable entries)");
    }
}
