namespace OpenWeights.Onnx.Tests.Support;

/// <summary>Removes this test run's scratch folders when the run ends, so runs leave nothing behind.</summary>
[TestClass]
public static class ScratchCleanup
{
    [AssemblyCleanup]
    public static void RemoveScratch()
    {
        if (Directory.Exists(TestFixtures.ScratchRoot))
            Directory.Delete(TestFixtures.ScratchRoot, recursive: true);
    }
}
