using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using CliWrap;
using CliWrap.Buffered;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Runtime;

/// <summary>
/// The GPU flavour of owonnx (-p:OwonnxGpu=true), built here without a GPU: its output holds exactly the
/// CUDA/TensorRT package's native ONNX Runtime (checked by file hash against the package, and against the CPU
/// package that onnxruntime-genai drags in), that runtime lists the CUDA and TensorRT providers, and a machine
/// without the CUDA libraries gets one line naming the missing library instead of a native stack.
/// </summary>
[TestClass]
[TestCategory(Category.Process)]
public sealed class GpuBuildTests
{
    private const string GpuPackage = "Microsoft.ML.OnnxRuntime.Gpu.Linux";
    private const string CpuPackage = "Microsoft.ML.OnnxRuntime";

    private static string _artifacts = "";
    private static string Output => Path.Combine(_artifacts, "bin", "owonnx", "release_linux-x64");
    private static string Binary => Path.Combine(Output, "owonnx");

    [ClassInitialize]
    public static async Task BuildGpuFlavour(TestContext _)
    {
        // Kept between runs under the test project's obj/ so that the build is incremental; bin/ is emptied so
        // every file checked below was put there by this build.
        var testBin = new DirectoryInfo(AppContext.BaseDirectory);
        _artifacts = Path.Combine(testBin.Parent!.Parent!.Parent!.Parent!.FullName, "obj", "gpu-flavour");
        if (Directory.Exists(Path.Combine(_artifacts, "bin")))
            Directory.Delete(Path.Combine(_artifacts, "bin"), recursive: true);
        string project = Path.Combine(TestFixtures.RepositoryRoot, "src", "owonnx", "owonnx.csproj");
        var build = await CliWrap.Cli.Wrap("dotnet")
            .WithArguments(["build", project, "-c", "Release", "-p:OwonnxGpu=true", "--artifacts-path", _artifacts,
                "-nodeReuse:false", "-v:q", "-nologo"])
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(8)).Token);
        Assert.AreEqual(0, build.ExitCode, build.StandardOutput + build.StandardError);
    }

    [TestMethod]
    public void OutputHoldsTheGpuPackagesNativeRuntimeAndNothingFromTheCpuPackage()
    {
        var assets = JsonNode.Parse(File.ReadAllText(Path.Combine(_artifacts, "obj", "owonnx", "project.assets.json")))!;
        string packages = assets["packageFolders"]!.AsObject().First().Key;
        string Native(string id)
        {
            string key = assets["libraries"]!.AsObject().Select(l => l.Key).Single(k => k.StartsWith(id + "/", StringComparison.Ordinal));
            return Path.Combine(packages, id.ToLowerInvariant(), key[(id.Length + 1)..], "runtimes", "linux-x64", "native");
        }
        // The trap is real only while onnxruntime-genai still brings the CPU package into the graph.
        string cpuNative = Native(CpuPackage), gpuNative = Native(GpuPackage);

        var outputHashes = Directory.GetFiles(Output).ToDictionary(Path.GetFileName, Hash);
        var gpuFiles = Directory.GetFiles(gpuNative);
        CollectionAssert.IsSubsetOf(
            new[] { "libonnxruntime.so", "libonnxruntime_providers_cuda.so", "libonnxruntime_providers_tensorrt.so", "libonnxruntime_providers_shared.so" },
            gpuFiles.Select(Path.GetFileName).ToArray());
        foreach (string file in gpuFiles)
        {
            string name = Path.GetFileName(file);
            Assert.IsTrue(outputHashes.TryGetValue(name, out var hash), $"{name} of {GpuPackage} is missing from the output");
            Assert.AreEqual(Hash(file), hash, $"{name} in the output is not {GpuPackage}'s");
        }
        foreach (string file in Directory.GetFiles(cpuNative))
        {
            string cpuHash = Hash(file);
            var copies = outputHashes.Where(o => o.Value == cpuHash).Select(o => o.Key).ToList();
            Assert.IsEmpty(copies, $"{CpuPackage}'s {Path.GetFileName(file)} reached the GPU output as {string.Join(", ", copies)}");
        }
    }

    [TestMethod]
    public async Task ItsRuntimeListsTheCudaAndTensorRtProviders()
    {
        var result = await RunAsync("providers");
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (string provider in new[] { "CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider" })
        {
            string line = lines.Single(l => l.Contains(provider));
            Assert.DoesNotContain("not in this build", line, result.StandardOutput);
        }
        StringAssert.Contains(lines.Single(l => l.Contains("CPUExecutionProvider")), "ready");
    }

    [TestMethod]
    public async Task MissingCudaLibrariesGiveOneLineNamingTheLibrary()
    {
        if (NativeLibrary.TryLoad("libcublasLt.so.13", out var handle))
        {
            NativeLibrary.Free(handle);
            Assert.Inconclusive("this machine has CUDA 13's cuBLAS: the missing-library case cannot happen here.");
        }
        var result = await RunAsync("run", FortuneReference.ConvertedFp32, "--prompt", "x", "--ep", "cuda");
        Assert.AreEqual(1, result.ExitCode, result.StandardError);
        Assert.AreEqual("", result.StandardOutput);
        var lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.HasCount(1, lines, result.StandardError);
        StringAssert.StartsWith(lines[0], "owonnx: execution provider 'cuda' could not start: libcublasLt.so.13 was not found");
        StringAssert.Contains(lines[0], "cuBLAS for CUDA 13");
        StringAssert.Contains(lines[0], "LD_LIBRARY_PATH");

        // The same build still runs on the CPU.
        var cpu = await RunAsync("run", FortuneReference.ConvertedFp32, "--prompt", "A fool and his money", "--max-new-tokens", "4");
        Assert.AreEqual(0, cpu.ExitCode, cpu.StandardError);
    }

    private static async Task<BufferedCommandResult> RunAsync(params string[] arguments) =>
        await CliWrap.Cli.Wrap(Binary)
            .WithArguments(arguments)
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);

    private static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }
}
