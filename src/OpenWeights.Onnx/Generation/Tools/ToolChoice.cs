namespace OpenWeights.Onnx.Generation.Tools;

/// <summary>How the model may use the tools: OpenAI's <c>tool_choice</c>.</summary>
public enum ToolChoiceMode
{
    /// <summary>The model chooses between text and calls.</summary>
    Auto,
    /// <summary>No calls: the tools are not even shown to the model.</summary>
    None,
    /// <summary>At least one call, of any declared function.</summary>
    Required,
    /// <summary>A call of <see cref="ToolChoice.FunctionName"/>.</summary>
    Function,
}

/// <summary>OpenAI's <c>tool_choice</c>: a mode and, for <see cref="ToolChoiceMode.Function"/>, the function it names.</summary>
public sealed record ToolChoice(ToolChoiceMode Mode, string? FunctionName = null)
{
    public static ToolChoice Auto { get; } = new(ToolChoiceMode.Auto);
    public static ToolChoice None { get; } = new(ToolChoiceMode.None);
    public static ToolChoice Required { get; } = new(ToolChoiceMode.Required);
    public static ToolChoice Function(string name) => new(ToolChoiceMode.Function, name);

    /// <summary>Whether the answer must be calls (the output is then constrained to them).</summary>
    public bool ForcesCall => Mode is ToolChoiceMode.Required or ToolChoiceMode.Function;
}
