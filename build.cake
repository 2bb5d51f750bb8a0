// owonnx build: dotnet tool restore && dotnet cake --target=<Task>
// Tasks depend on each other so that any one of them can be run alone from a clean clone.

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var artifacts = MakeAbsolute(Directory("./artifacts"));
var solution = "./OpenWeights.Onnx.sln";
var cli = "./src/owonnx/owonnx.csproj";
var rids = new[] { "linux-x64", "linux-arm64" };

// The CLI as built by the Build task (framework-dependent, linux-x64).
string Owonnx() => $"./src/owonnx/bin/{configuration}/net10.0/linux-x64/owonnx";

void Run(string program, string arguments)
{
    Information($"> {program} {arguments}");
    var exit = StartProcess(program, new ProcessSettings { Arguments = arguments });
    if (exit != 0)
        throw new CakeException($"{program} exited with {exit}");
}

Task("Clean").Does(() =>
{
    CleanDirectory(artifacts);
    DotNetClean(solution, new DotNetCleanSettings { Configuration = configuration });
});

Task("Restore").Does(() => DotNetRestore(solution));

Task("Build").IsDependentOn("Restore").Does(() =>
    DotNetBuild(solution, new DotNetBuildSettings { Configuration = configuration, NoRestore = true }));

Task("Test").IsDependentOn("Build").Does(() =>
    DotNetTest(solution, new DotNetTestSettings
    {
        Configuration = configuration,
        NoBuild = true,
        Loggers = new[] { "trx;LogFileName=tests.trx" },
        ResultsDirectory = artifacts.Combine("test-results"),
    }));

Task("Pack").IsDependentOn("Build").Does(() =>
    DotNetPack(cli, new DotNetPackSettings
    {
        Configuration = configuration,
        NoBuild = true,
        OutputDirectory = artifacts.Combine("packages"),
    }));

Task("Publish").IsDependentOn("Restore").Does(() =>
{
    foreach (var rid in rids)
        DotNetPublish(cli, new DotNetPublishSettings
        {
            Configuration = configuration,
            Runtime = rid,
            SelfContained = true,
            PublishSingleFile = true,
            OutputDirectory = artifacts.Combine($"publish/{rid}"),
            MSBuildSettings = new DotNetMSBuildSettings()
                .WithProperty("IncludeNativeLibrariesForSelfExtract", "false")
                .WithProperty("EnableCompressionInSingleFile", "true")
                .WithProperty("DebugType", "none"),
        });

    // The linux-x64 binary must run on its own: convert and generate with the sample it carries.
    if (System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.X64)
    {
        var binary = artifacts.CombineWithFilePath("publish/linux-x64/owonnx").FullPath;
        var model = artifacts.Combine("publish-check/fortune-int4");
        Run(binary, $"convert --sample --output \"{model}\" --precision int4 --overwrite");
        Run(binary, $"run \"{model}\" --prompt \"A fool and his money\" --max-new-tokens 20");
    }
    foreach (var rid in rids)
        Information($"{rid}: {DirectorySize(artifacts.Combine($"publish/{rid}")) / 1048576.0:F0} MiB");
});

long DirectorySize(DirectoryPath path) =>
    System.IO.Directory.GetFiles(path.FullPath, "*", System.IO.SearchOption.AllDirectories).Sum(f => new System.IO.FileInfo(f).Length);

Task("Sample").IsDependentOn("Build").Does(() =>
{
    var model = artifacts.Combine("models/fortune-llama-int4");
    Run(Owonnx(), $"convert --sample --output \"{model}\" --precision int4 --overwrite");
    Run(Owonnx(), $"run \"{model}\" --prompt \"A fool and his money\" --max-new-tokens 40");
});

Task("Bench").IsDependentOn("Sample").Does(() =>
{
    var model = artifacts.Combine("models/fortune-llama-int4");
    EnsureDirectoryExists(artifacts.Combine("bench"));
    Run(Owonnx(), $"bench \"{model}\" --prompt-tokens 128 --gen-tokens 64 --repeat 5 --json --output \"{artifacts.Combine("bench/fortune-llama-int4.json")}\"");
});

// Conversion throughput and peak anonymous memory on a synthetic ~1 GB checkpoint (report in artifacts/bench).
Task("BenchConvert").IsDependentOn("Build").Does(() =>
{
    var work = artifacts.Combine("bench/convert");
    EnsureDirectoryExists(work);
    Run("dotnet", $"run -c {configuration} --no-build --project tests/OpenWeights.Onnx.Benchmarks -- \"{MakeAbsolute(File(Owonnx()))}\" \"{work}\"");
});

Task("CI").IsDependentOn("Test").IsDependentOn("Pack").IsDependentOn("Sample");

RunTarget(target);
