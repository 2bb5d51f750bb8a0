// owonnx build: dotnet tool restore && dotnet cake --target=<Task>
// Tasks depend on each other so that any one of them can be run alone from a clean clone.

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var artifacts = MakeAbsolute(Directory("./artifacts"));
var solution = "./OpenWeights.Onnx.sln";
var cli = "./src/owonnx/owonnx.csproj";
// Every platform ONNX Runtime and onnxruntime-genai ship native libraries for (the tool's RuntimeIdentifiers).
var rids = new[] { "linux-x64", "linux-arm64", "osx-arm64", "win-x64" };
var libraries = new[] { "./src/OpenWeights.Onnx/OpenWeights.Onnx.csproj", "./converters/OpenWeights.Onnx.Converters.csproj",
                        "./src/OpenWeights.Onnx.Server/OpenWeights.Onnx.Server.csproj" };

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
{
    var packages = artifacts.Combine("packages");
    CleanDirectory(packages);
    // The libraries: the pipeline, the families, the server (README, licence, XML docs, symbols with Source Link).
    foreach (var library in libraries)
        DotNetPack(library, new DotNetPackSettings { Configuration = configuration, NoBuild = true, OutputDirectory = packages });
    // The tool: a small top-level owonnx package and one owonnx.<rid> package per platform (.NET 10 RID-specific
    // tool packages); the SDK installs the one for the machine's RID. Built without the default linux-x64 RID.
    DotNetPack(cli, new DotNetPackSettings
    {
        Configuration = configuration,
        OutputDirectory = packages,
        MSBuildSettings = new DotNetMSBuildSettings().WithProperty("OwonnxAnyRid", "true"),
    });

    // Every platform's package carries that platform's ONNX Runtime and onnxruntime-genai.
    var native = new Dictionary<string, string[]>
    {
        ["linux-x64"] = new[] { "libonnxruntime.so", "libonnxruntime-genai.so" },
        ["linux-arm64"] = new[] { "libonnxruntime.so", "libonnxruntime-genai.so" },
        ["osx-arm64"] = new[] { "libonnxruntime.dylib", "libonnxruntime-genai.dylib" },
        ["win-x64"] = new[] { "onnxruntime.dll", "onnxruntime-genai.dll" },
    };
    foreach (var rid in rids)
    {
        var package = packages.CombineWithFilePath($"owonnx.{rid}.0.1.0.nupkg").FullPath;
        using var zip = System.IO.Compression.ZipFile.OpenRead(package);
        var names = zip.Entries.Select(e => e.FullName).ToList();
        foreach (var library in native[rid].Append("owonnx.dll").Append("README.md").Append("LICENSE"))
            if (!names.Any(n => n == library || n.EndsWith("/" + library)))
                throw new CakeException($"{package} lacks {library}");
        var foreign = names.Where(n => native.Where(kv => kv.Key != rid).SelectMany(kv => kv.Value)
            .Except(native[rid]).Any(f => n.EndsWith("/" + f))).ToList();
        if (foreign.Count > 0)
            throw new CakeException($"{package} carries another platform's libraries: {string.Join(", ", foreign)}");
        Information($"{rid}: {new System.IO.FileInfo(package).Length / 1048576.0:F1} MB, native {string.Join(", ", native[rid])}");
    }

    // This machine's package must install and run as a .NET tool: install it into a throw-away tool path.
    var toolPath = artifacts.Combine("tool-check");
    CleanDirectory(toolPath);
    Run("dotnet", $"tool install owonnx --tool-path \"{toolPath}\" --add-source \"{packages}\" --ignore-failed-sources");
    var tool = toolPath.CombineWithFilePath("owonnx").FullPath;
    Run(tool, "--help");
    var model = artifacts.Combine("tool-check-model");
    Run(tool, $"convert --sample --output \"{model}\" --precision int4 --overwrite");
    Run(tool, $"run \"{model}\" \"A fool and his money\" --max-new-tokens 20");
});

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

    // The linux-x64 binary must run on its own: convert and generate with the sample it carries
    // (the other platforms' binaries are built and sized here; they run on their own machines).
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

// Decode/prefill speed, bandwidth bound and memory on a TinyLlama-shaped random checkpoint in INT4/INT8/FP16,
// interleaved with llama.cpp's llama-bench on a random GGUF of the same shape when llama.cpp is available:
//   --llama-cpp=<path>    the llama-bench binary, its build folder (<dir>/bin/llama-bench), or a llama.cpp source
//                         tree (<dir>/build/bin/llama-bench); gguf-py/ is looked for in the folders above it
//   --gguf-py=<dir>       llama.cpp's gguf-py, when it is not beside the binary's source tree
//   --python=<python3>    the Python that writes the GGUF: it needs numpy (Debian: python3-numpy, /usr/bin/python3)
//   --llama-cpp=setup     fetch it here: npm node-llama-cpp 3.21.1 ships llama.cpp's source as a git bundle;
//                         clone and build llama-bench with cmake into artifacts/llamacpp (~10+ min on 2 cores, far
//                         longer on a loaded one). Built portable: GGML_NATIVE=OFF with the CPU's x86 extensions named
//                         from /proc/cpuinfo and AMX off (a native build died with "Illegal instruction" in a VM
//                         whose CPU reports AMX it cannot run).
//   --pairs=N (3), --precisions=int4,int8,fp16, --threads=N (all cores), --prompt-tokens=N (128), --gen-tokens=N (64),
//   --repeat=N (2; measured runs per bench call, for both tools)
// Report: artifacts/bench/decode.json and decode.md. Never part of the CI test run.
Task("Bench").IsDependentOn("Build").Does(() =>
{
    var llama = Argument("llama-cpp", "");
    string llamaBench = null, ggufPy = Argument("gguf-py", "");
    if (llama == "setup")
    {
        var root = artifacts.Combine("llamacpp");
        EnsureDirectoryExists(root);
        Run("npm", $"install --prefix \"{root}\" --ignore-scripts --no-audit --no-fund node-llama-cpp@3.21.1");
        var tree = root.Combine("src");
        if (!DirectoryExists(tree))
            Run("git", $"clone -q \"{root.CombineWithFilePath("node_modules/node-llama-cpp/llama/gitRelease.bundle")}\" \"{tree}\"");
        Run("cmake", $"-S \"{tree}\" -B \"{tree.Combine("build")}\" -DCMAKE_BUILD_TYPE=Release {PortableGgmlFlags()} -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF");
        Run("cmake", $"--build \"{tree.Combine("build")}\" --target llama-bench -j {Environment.ProcessorCount}");
        llama = tree.FullPath;
    }
    if (llama != "")
    {
        llamaBench = LlamaBench(llama);
        if (ggufPy == "")
            ggufPy = GgufPyAbove(llamaBench) ?? throw new CakeException($"no gguf-py/ folder above {llamaBench}; pass --gguf-py=<llama.cpp>/gguf-py");
    }
    var work = artifacts.Combine("bench/decode-work");
    var arguments = $"decode \"{MakeAbsolute(File(Owonnx()))}\" \"{work}\" \"{artifacts.Combine("bench")}\"" +
        $" --pairs {Argument("pairs", "3")} --precisions {Argument("precisions", "int4,int8,fp16")} --threads {Argument("threads", Environment.ProcessorCount.ToString())}" +
        $" --prompt-tokens {Argument("prompt-tokens", "128")} --gen-tokens {Argument("gen-tokens", "64")} --repeat {Argument("repeat", "2")}";
    if (llamaBench != null)
        arguments += $" --llama-bench \"{llamaBench}\" --gguf-py \"{ggufPy}\" --python \"{Argument("python", "python3")}\"";
    Run("dotnet", $"run -c {configuration} --no-build --project tests/OpenWeights.Onnx.Benchmarks -- {arguments}");
});

// Mixture of experts: a Mixtral-shaped random checkpoint (8 experts top-2, hidden 1024, 8 layers) against a dense
// model of the same active parameters (INT4), and routed vs all-experts experts (FP32); decode t/s ratios within
// back-to-back pairs. --pairs=N (3), --threads=N (all cores), --comparisons=int4,fp32. Report: artifacts/bench/moe.json, moe.md.
Task("BenchMoe").IsDependentOn("Build").Does(() =>
{
    var arguments = $"moe \"{MakeAbsolute(File(Owonnx()))}\" \"{artifacts.Combine("bench/moe-work")}\" \"{artifacts.Combine("bench")}\"" +
        $" --pairs {Argument("pairs", "3")} --threads {Argument("threads", Environment.ProcessorCount.ToString())} --comparisons {Argument("comparisons", "int4,fp32")}";
    Run("dotnet", $"run -c {configuration} --no-build --project tests/OpenWeights.Onnx.Benchmarks -- {arguments}");
});

// llama-bench from what --llama-cpp names: the binary itself, a build folder, or a source tree with build/.
string LlamaBench(string path)
{
    var full = System.IO.Path.GetFullPath(path);
    foreach (var candidate in new[] { full, System.IO.Path.Combine(full, "bin", "llama-bench"), System.IO.Path.Combine(full, "build", "bin", "llama-bench") })
        if (System.IO.File.Exists(candidate))
            return candidate;
    throw new CakeException($"--llama-cpp={path}: no llama-bench there (looked for the file itself, {path}/bin/llama-bench and {path}/build/bin/llama-bench)");
}

// gguf-py/ in the nearest folder above the binary (the source tree it was built in).
string GgufPyAbove(string binary)
{
    for (var dir = System.IO.Path.GetDirectoryName(binary); dir != null; dir = System.IO.Path.GetDirectoryName(dir))
        if (System.IO.Directory.Exists(System.IO.Path.Combine(dir, "gguf-py")))
            return System.IO.Path.Combine(dir, "gguf-py");
    return null;
}

// GGML_NATIVE=OFF with each x86 extension this CPU reports switched on by name, AMX always off.
string PortableGgmlFlags()
{
    var flags = System.IO.File.Exists("/proc/cpuinfo")
        ? System.IO.File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags"))?.Split(':')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet() ?? new HashSet<string>()
        : new HashSet<string>();
    var options = new List<string> { "-DGGML_NATIVE=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF" };
    foreach (var (ggml, cpu) in new[] { ("SSE42", "sse4_2"), ("F16C", "f16c"), ("FMA", "fma"), ("BMI2", "bmi2"), ("AVX", "avx"), ("AVX2", "avx2"),
                 ("AVX_VNNI", "avx_vnni"), ("AVX512", "avx512f"), ("AVX512_VNNI", "avx512_vnni"), ("AVX512_BF16", "avx512_bf16"), ("AVX512_VBMI", "avx512vbmi") })
        options.Add($"-DGGML_{ggml}={(flags.Contains(cpu) ? "ON" : "OFF")}");
    return string.Join(" ", options);
}

// The sample's speed alone (quick): artifacts/bench/fortune-llama-int4.json.
Task("BenchSample").IsDependentOn("Sample").Does(() =>
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

// Block quantizer throughput (MB/s of float input) for every bit width, symmetry and method.
Task("BenchQuantize").IsDependentOn("Build").Does(() =>
    Run("dotnet", $"run -c {configuration} --no-build --project tests/OpenWeights.Onnx.Benchmarks -- quantize"));

// Issue 11's server targets, one report (artifacts/bench/server.json and server.md): a lone request at --max-batch 1
// and 8 vs `owonnx run`, 8 concurrent streams vs `owonnx bench`'s single stream, and the running streams' largest
// token gap while a long prompt joins vs (one step + one prefill chunk), every baseline measured in the same rounds.
// Model: the Bench target's TinyLlama-shaped random INT4 (written and converted when missing), given a synthetic
// tokenizer (the sample's 2048-entry BPE padded with unreachable entries to the model's 32000: it measures the engine).
// --model=<dir> for another converted model, --threads=N (cores), --rounds=3, --gen-tokens=64, --join-prompt=1000.
// Run it on a quiet machine (it reports the load average before and after).
Task("BenchServer").IsDependentOn("Build").Does(() =>
{
    var model = Argument("model", artifacts.Combine("bench/decode-work/tinyllama-int4").FullPath);
    Run("dotnet", $"run -c {configuration} --no-build --project tests/OpenWeights.Onnx.Benchmarks -- serve-report \"{MakeAbsolute(File(Owonnx()))}\" \"{model}\"" +
        $" \"{artifacts.Combine("bench")}\" --tokenizer-from \"{MakeAbsolute(Directory("src/owonnx/sample/fortune-llama"))}\"" +
        $" --threads {Argument("threads", Environment.ProcessorCount.ToString())} --rounds {Argument("rounds", "3")}" +
        $" --gen-tokens {Argument("gen-tokens", "64")} --join-prompt {Argument("join-prompt", "1000")}");
});

// Time to first token with and without the prefix cache: chat requests sharing a long system prompt, against two
// servers of the sample (cache on / off) asked in alternation. --model=<dir> for another converted model,
// --threads=N, --rounds=N (15).
Task("BenchPrefix").IsDependentOn("Sample").Does(() =>
{
    var model = Argument("model", artifacts.Combine("models/fortune-llama-int4").FullPath);
    var threads = Argument("threads", "");
    var rounds = Argument("rounds", "15");
    Run("dotnet", $"run -c {configuration} --no-build --project tests/OpenWeights.Onnx.Benchmarks -- prefix \"{model}\" \"{threads}\" {rounds}");
});

// owonnx's stdout for a command that must succeed.
string Capture(string arguments)
{
    Information($"> owonnx {arguments}");
    IEnumerable<string> lines;
    var exit = StartProcess(Owonnx(), new ProcessSettings { Arguments = arguments, RedirectStandardOutput = true }, out lines);
    if (exit != 0) throw new CakeException($"owonnx {arguments} exited with {exit}");
    return string.Join("\n", lines);
}

// Every quantization variant worth comparing, on the sample's held-out text (all windows of 256), against the
// FP32 conversion: perplexity, KL divergence, top-1 agreement and size. A measurement for choosing defaults;
// the quality bars themselves are tests (QuantizationQualityBarTests).
Task("QualityVariants").IsDependentOn("Build").Does(() =>
{
    var models = artifacts.Combine("models/variants");
    var text = "src/owonnx/sample/fortune-llama/heldout.txt";
    var variants = new (string Name, string Arguments)[]
    {
        ("int8 (default: MSE sym, block 32)", "--precision int8"),
        ("int8 RTN sym", "--precision int8 --quant-method rtn"),
        ("int4 (default: MSE sym, int8 head)", "--precision int4"),
        ("int4 RTN sym, int8 head", "--precision int4 --quant-method rtn"),
        ("int4 MSE asym, int8 head", "--precision int4 --asymmetric"),
        ("int4 RTN asym, int8 head", "--precision int4 --asymmetric --quant-method rtn"),
        ("int4 MSE sym, int4 head", "--precision int4 --lm-head int4"),
        ("int4 RTN sym, int4 head", "--precision int4 --lm-head int4 --quant-method rtn"),
        ("int4 MSE sym, float head", "--precision int4 --lm-head float"),
        ("int4 MSE sym, int8 head, float table", "--precision int4 --embedding float"),
        ("int4 MSE sym, int8 head, int4 table", "--precision int4 --embedding int4"),
        ("int4 MSE sym block 64, int8 head", "--precision int4 --block-size 64"),
        ("int4 MSE sym block 128, int8 head", "--precision int4 --block-size 128"),
        ("int4 MSE asym block 128, int8 head", "--precision int4 --block-size 128 --asymmetric"),
        ("int4 MSE sym, int8 head, level 0", "--precision int4 --accuracy-level 0"),
    };
    var fp32 = models.Combine("fp32");
    Run(Owonnx(), $"convert --sample --output \"{fp32}\" --precision fp32 --logits all --overwrite");
    var rows = new List<string> { $"{"variant",-40} {"PPL",9} {"ΔPPL",8} {"mean KL",9} {"top-1",7} {"MB",7}" };
    double basePpl = System.Text.Json.JsonDocument.Parse(Capture($"eval \"{fp32}\" --text {text} --window 256 --json"))
        .RootElement.GetProperty("perplexity").GetDouble();
    for (int v = 0; v < variants.Length; v++)
    {
        var dir = models.Combine($"v{v}");
        Run(Owonnx(), $"convert --sample --output \"{dir}\" {variants[v].Arguments} --logits all --overwrite");
        var inspect = System.Text.Json.JsonDocument.Parse(Capture($"inspect \"{dir}\" --json")).RootElement;
        var eval = System.Text.Json.JsonDocument.Parse(Capture($"eval \"{dir}\" --text {text} --window 256 --compare \"{fp32}\" --json")).RootElement;
        double ppl = eval.GetProperty("perplexity").GetDouble();
        double mb = (inspect.GetProperty("external_data_bytes").GetInt64() + inspect.GetProperty("model_file_bytes").GetInt64()) / 1e6;
        rows.Add($"{variants[v].Name,-40} {ppl,9:F4} {(ppl / basePpl - 1) * 100,7:F3}% {eval.GetProperty("mean_kl_divergence").GetDouble(),9:F6} " +
                 $"{eval.GetProperty("top1_agreement").GetDouble(),7:P2} {mb,7:F2}");
    }
    Information($"FP32 perplexity {basePpl:F4} (transformers: 86.1035)\n" + string.Join("\n", rows));
});

// Regenerates the quality table in README.md (between the quality-table markers) from the project's own
// commands: convert the sample to every precision, inspect it, eval it against the FP32 conversion.
Task("QualityTable").IsDependentOn("Build").Does(() =>
{
    var models = artifacts.Combine("models");
    var text = "src/owonnx/sample/fortune-llama/heldout.txt";
    var rows = new List<string>
    {
        "| precision | size (MB) | bits/weight | perplexity | vs transformers FP32 (86.1035) | KL vs FP32 | top-1 vs FP32 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    };
    foreach (var precision in new[] { "fp32", "fp16", "int8", "int4" })
    {
        var dir = models.Combine($"fortune-llama-{precision}");
        Run(Owonnx(), $"convert --sample --output \"{dir}\" --precision {precision} --logits all --overwrite");
        var inspect = System.Text.Json.JsonDocument.Parse(Capture($"inspect \"{dir}\" --json")).RootElement;
        var eval = System.Text.Json.JsonDocument.Parse(Capture(
            $"eval \"{dir}\" --text {text} --window 256 --compare \"{models.Combine("fortune-llama-fp32")}\" --json")).RootElement;
        double mb = (inspect.GetProperty("external_data_bytes").GetInt64() + inspect.GetProperty("model_file_bytes").GetInt64()) / 1e6;
        double ppl = eval.GetProperty("perplexity").GetDouble();
        rows.Add($"| {precision} | {mb:F2} | {inspect.GetProperty("bits_per_weight").GetDouble():F2} | {ppl:F4} | {Signed((ppl / 86.1035 - 1) * 100)} % | " +
                 $"{eval.GetProperty("mean_kl_divergence").GetDouble():F6} | {eval.GetProperty("top1_agreement").GetDouble() * 100:F2} % |");
    }
    string Signed(double x) => (x >= 0 ? "+" : "−") + Math.Abs(x).ToString("F3");
    var readme = System.IO.File.ReadAllText("README.md");
    const string start = "<!-- quality-table:start -->", end = "<!-- quality-table:end -->";
    int a = readme.IndexOf(start), b = readme.IndexOf(end);
    if (a < 0 || b < a) throw new CakeException("README.md lacks the quality-table markers");
    readme = readme.Substring(0, a + start.Length) + "\n" + string.Join("\n", rows) + "\n" + readme.Substring(b);
    System.IO.File.WriteAllText("README.md", readme);
    Information(string.Join("\n", rows));
});

Task("CI").IsDependentOn("Test").IsDependentOn("Pack").IsDependentOn("Sample");

RunTarget(target);
