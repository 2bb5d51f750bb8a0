namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// A sequence would grow past the cache's max length. Our policy is to refuse, never to silently drop
/// earlier context: callers choose a larger <see cref="RuntimeOptions.MaxLength"/> or a shorter prompt.
/// </summary>
public sealed class ContextOverflowException(long needed, int maxLength)
    : Exception($"the sequence needs {needed} tokens but the cache holds {maxLength} (max length); " +
                "use a shorter prompt, fewer new tokens (GenerationOptions.MaxNewTokens) or a larger RuntimeOptions.MaxLength " +
                "(up to the model's context length).")
{
    public long Needed { get; } = needed;
    public int MaxLength { get; } = maxLength;
}
