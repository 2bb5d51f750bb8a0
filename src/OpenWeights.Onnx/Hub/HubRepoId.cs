using System.Text.RegularExpressions;

namespace OpenWeights.Onnx.Hub;

/// <summary>A model repository on the Hub, <c>org/name</c>, and the revision asked for (branch, tag or commit).</summary>
public sealed partial record HubRepoId(string Owner, string Name, string Revision)
{
    public const string DefaultRevision = "main";

    public string Id => $"{Owner}/{Name}";

    /// <summary>The cache folder huggingface_hub uses for a model repo: <c>models--{org}--{name}</c>.</summary>
    public string CacheFolderName => $"models--{Owner}--{Name}";

    public override string ToString() => Revision == DefaultRevision ? Id : $"{Id}@{Revision}";

    /// <summary>Parses <c>org/name</c> or <c>org/name@revision</c>; null when the text is not shaped like a repo id.</summary>
    public static HubRepoId? TryParse(string text)
    {
        int at = text.IndexOf('@');
        string id = at < 0 ? text : text[..at];
        string revision = at < 0 ? DefaultRevision : text[(at + 1)..];
        var match = IdPattern().Match(id);
        if (!match.Success || revision.Length == 0 || !IsSafeRevision(revision))
            return null;
        string owner = match.Groups[1].Value, name = match.Groups[2].Value;
        // "--" separates owner and name in cache folder names; ".." would escape the cache.
        if (owner.Contains("--") || name.Contains("--") || owner.Contains("..") || name.Contains(".."))
            return null;
        return new HubRepoId(owner, name, revision);
    }

    public static HubRepoId Parse(string text) => TryParse(text)
        ?? throw new ArgumentException($"'{text}' is not a Hub model id: expected org/name or org/name@revision " +
                                       "(letters, digits, '-', '_', '.').");

    /// <summary>Revisions become file names under <c>refs/</c>: branch names may hold '/', never '..' or a leading '/'.</summary>
    private static bool IsSafeRevision(string revision) =>
        !revision.StartsWith('/') && !revision.EndsWith('/') && !revision.Contains("..") && !revision.Contains('\\')
        && revision.All(c => !char.IsControl(c) && c != ' ');

    [GeneratedRegex(@"^([A-Za-z0-9][A-Za-z0-9._-]{0,95})/([A-Za-z0-9][A-Za-z0-9._-]{0,95})$")]
    private static partial Regex IdPattern();
}
