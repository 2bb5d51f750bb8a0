namespace OpenWeights.Onnx.Hub;

/// <summary>
/// Which of a repo's files a pull downloads. By default only what a conversion reads (configs, safetensors
/// weights and their index, tokenizer and chat template files) and the licence and model card that must travel
/// with the weights. Pickled weights (<c>.bin</c>, <c>.pt</c>, ...) are never downloaded, whatever the patterns
/// say: loading a pickle can run arbitrary code, and safetensors carry the same tensors without that risk.
/// </summary>
public sealed class HubFileSelection
{
    public static readonly IReadOnlyList<string> DefaultPatterns =
    [
        "config.json", "generation_config.json",
        "*.safetensors", "*.safetensors.index.json",
        "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
        "added_tokens.json", "vocab.json", "merges.txt",
        "chat_template.json", "chat_template.jinja", "additional_chat_templates/*.jinja",
        "LICENSE*", "LICENCE*", "license*", "README.md", "USE_POLICY.md", "NOTICE*",
    ];

    /// <summary>File endings of pickled checkpoints (PyTorch, joblib, pickle).</summary>
    public static readonly IReadOnlyList<string> PickleSuffixes = [".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib"];

    private readonly IReadOnlyList<Glob> _include;
    private readonly IReadOnlyList<Glob> _exclude;

    /// <param name="include">Patterns that replace the default set; empty keeps the defaults.</param>
    /// <param name="exclude">Patterns removed from whatever is included.</param>
    public HubFileSelection(IEnumerable<string>? include = null, IEnumerable<string>? exclude = null)
    {
        var includeList = (include ?? []).ToList();
        _include = (includeList.Count > 0 ? includeList : DefaultPatterns).Select(p => new Glob(p)).ToList();
        _exclude = (exclude ?? []).Select(p => new Glob(p)).ToList();
    }

    public static HubFileSelection Default { get; } = new();

    public static bool IsPickle(string path) =>
        PickleSuffixes.Any(s => path.EndsWith(s, StringComparison.OrdinalIgnoreCase));

    public bool Selects(string path) =>
        !IsPickle(path) && _include.Any(g => g.IsMatch(path)) && !_exclude.Any(g => g.IsMatch(path));

    /// <summary>The files to download; fails, saying why, when the repo's weights exist only as pickles.</summary>
    public IReadOnlyList<HubRepoFile> Select(HubRepoId repo, IReadOnlyList<HubRepoFile> files)
    {
        var selected = files.Where(f => Selects(f.Path)).ToList();
        bool hasSafetensors = files.Any(f => f.Path.EndsWith(".safetensors", StringComparison.Ordinal));
        var pickles = files.Where(f => IsPickle(f.Path)).Select(f => f.Path).ToList();
        if (!hasSafetensors && pickles.Count > 0)
            throw new HubException(
                $"{repo}: the weights are only in pickle files ({string.Join(", ", pickles.Take(4))}" +
                $"{(pickles.Count > 4 ? ", ..." : "")}), which owonnx never downloads: unpickling can run arbitrary code. " +
                "Look for a safetensors revision of this model (the Hub's convert bot opens one as refs/pr/N: pull " +
                $"{repo.Id}@refs/pr/N), or save it as safetensors with transformers (save_pretrained(..., safe_serialization=True)).");
        if (selected.Count == 0)
            throw new HubException($"{repo}: no file matches the include/exclude patterns ({files.Count} files in the repo).");
        return selected;
    }
}
