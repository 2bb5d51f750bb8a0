namespace OpenWeights.Onnx.Hub;

/// <summary>
/// Where the Hub is, who we are and where its files live on disk, read from the same environment variables
/// huggingface_hub reads, so that owonnx and Python tools share one cache and one login.
/// </summary>
public sealed record HubSettings
{
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>Base address, without a trailing slash (HF_ENDPOINT).</summary>
    public required Uri Endpoint { get; init; }

    /// <summary>User access token (HF_TOKEN, else the token file); null when anonymous.</summary>
    public string? Token { get; init; }

    /// <summary>Where the token came from, for error messages (never the token itself).</summary>
    public string TokenSource { get; init; } = "none";

    /// <summary>The hub cache folder holding <c>models--org--name</c> (HF_HUB_CACHE, else $HF_HOME/hub).</summary>
    public required string CacheDirectory { get; init; }

    /// <summary>HF_HUB_OFFLINE: never send a request; only cached snapshots are used.</summary>
    public bool Offline { get; init; }

    /// <summary>Files downloaded at the same time.</summary>
    public int ParallelDownloads { get; init; } = 4;

    /// <summary>Tries per file when a transfer is cut: each try resumes where the last one stopped.</summary>
    public int TransferAttempts { get; init; } = 5;

    /// <summary>A metadata request or a read that stalls longer than this fails.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public static HubSettings FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>The rules of huggingface_hub's <c>constants.py</c> and <c>utils/_auth.py</c>.</summary>
    public static HubSettings FromEnvironment(Func<string, string?> env)
    {
        string home = Expand(NonEmpty(env("HF_HOME"))
            ?? Path.Combine(NonEmpty(env("XDG_CACHE_HOME")) ?? Path.Combine(UserHome(), ".cache"), "huggingface"));
        string cache = Expand(NonEmpty(env("HF_HUB_CACHE")) ?? NonEmpty(env("HUGGINGFACE_HUB_CACHE")) ?? Path.Combine(home, "hub"));
        string endpointText = (NonEmpty(env("HF_ENDPOINT")) ?? DefaultEndpoint).TrimEnd('/');
        if (!Uri.TryCreate(endpointText, UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
            throw new ArgumentException($"HF_ENDPOINT '{endpointText}' is not an http(s) address.");

        string? token = Clean(env("HF_TOKEN")) ?? Clean(env("HUGGING_FACE_HUB_TOKEN"));
        string source = token is null ? "none" : "HF_TOKEN";
        if (token is null)
        {
            string tokenPath = Expand(NonEmpty(env("HF_TOKEN_PATH")) ?? Path.Combine(home, "token"));
            if (File.Exists(tokenPath))
            {
                token = Clean(File.ReadAllText(tokenPath));
                source = token is null ? "none" : $"the token file {tokenPath}";
            }
        }

        return new HubSettings
        {
            Endpoint = endpoint,
            Token = token,
            TokenSource = source,
            CacheDirectory = Path.GetFullPath(cache),
            Offline = IsTrue(env("HF_HUB_OFFLINE")) || IsTrue(env("TRANSFORMERS_OFFLINE")),
        };
    }

    /// <summary>huggingface_hub's truth values for environment flags: 1, ON, YES, TRUE (any case).</summary>
    public static bool IsTrue(string? value) =>
        value?.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    // A token file written by `hf auth login` ends with a newline; huggingface_hub strips CR/LF and spaces.
    private static string? Clean(string? token) =>
        NonEmpty(token?.Replace("\r", "").Replace("\n", "").Trim());

    private static string UserHome() => Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    private static string Expand(string path) =>
        path == "~" ? UserHome() : path.StartsWith("~/") ? Path.Combine(UserHome(), path[2..]) : Environment.ExpandEnvironmentVariables(path);
}
