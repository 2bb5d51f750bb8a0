namespace OpenWeights.Onnx.Tests;

/// <summary>
/// What a test class costs to run, for <c>[TestCategory(...)]</c>: every test class carries exactly one
/// (<see cref="Support.CategoryTests"/> checks it), so <c>dotnet test --filter TestCategory=Unit</c> is the
/// fast developer loop while CI runs everything. In the root test namespace so every test file sees it.
/// </summary>
public static class Category
{
    /// <summary>Milliseconds: no whole-model conversion, no child process, no server.</summary>
    public const string Unit = "Unit";

    /// <summary>Converts and runs models and compares with reference numbers (transformers fixtures, the sample).</summary>
    public const string Parity = "Parity";

    /// <summary>Starts the <c>owonnx</c> process or an HTTP server.</summary>
    public const string Process = "Process";
}
