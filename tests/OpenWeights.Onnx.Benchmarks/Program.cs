using System.Diagnostics;
using System.Text.Json;
using OpenWeights.Onnx.Benchmarks;

// Measurements (not tests), run through Cake targets:
//   -- decode <owonnx> <work-dir> <report-dir> [--precisions int4,int8,fp16] [--pairs 3] [--threads N]
//      [--llama-bench path --gguf-py dir --python python3] [--prompt-tokens 128 --gen-tokens 64 --repeat 2]
//                                               decode/prefill vs llama.cpp, TinyLlama shape (Bench)
//   -- quantize                                 block quantizer throughput (BenchQuantize)
//   -- moe <owonnx> <work-dir> <report-dir> [--pairs 3] [--threads N] [--comparisons int4,fp32]
//      Mixtral-shaped MoE vs a dense model of the same active parameters; routed vs all-experts (BenchMoe)
//   -- serve <model-dir> [threads] [--max-batch 1,8] [--clients 32]
//                                               server throughput per --max-batch and client count
//   -- serve-report <owonnx> <model-dir> <report-dir> [--threads N] [--rounds 3] [--gen-tokens 64] [--streams 8]
//      [--join-prompt 1000] [--tokenizer-from <folder>]
//                                               issue 11's server targets vs run/bench in the same run (BenchServer)
//   -- mask <tokenizer-dir> <schema.json> <document.json>   constrained-output masks over one document's tokens,
//                                               cold and cached, µs per token (no model: the vocabulary's cost alone)
//   -- prefix <model-dir> [threads] [rounds]    time to first token with/without the prefix cache (BenchPrefix)
//   -- [owonnx-binary] [work-dir] [precisions...] conversion (BenchConvert), below.
// Conversion benchmark (issues 2 and 4): converts a synthetic ~1 GB BF16 checkpoint with the real owonnx
// binary for each precision and reports, against baselines measured in the same run:
//   - throughput in MB/s of input, and as a fraction of a plain file copy of the same checkpoint;
//   - peak anonymous memory (RssAnon, polled from /proc), as a multiple of the largest tensor.
if (args is ["decode", var decodeOwonnx, var decodeWork, var decodeOutput, ..])
{
    string? Flag(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    return DecodeComparison.Run(new DecodeComparison.Options(decodeOwonnx, decodeWork, decodeOutput,
        (Flag("--precisions") ?? "int4,int8,fp16").Split(','), int.Parse(Flag("--pairs") ?? "3"),
        int.Parse(Flag("--threads") ?? Environment.ProcessorCount.ToString()), Flag("--llama-bench"), Flag("--gguf-py"),
        int.Parse(Flag("--prompt-tokens") ?? "128"), int.Parse(Flag("--gen-tokens") ?? "64"), int.Parse(Flag("--repeat") ?? "2"), Flag("--python") ?? "python3"));
}
if (args is ["mask", var maskTokenizer, var maskSchema, var maskDocument])
{
    var tokenizer = OpenWeights.Onnx.Tokenization.TextTokenizer.FromFolder(maskTokenizer);
    string schemaText = File.ReadAllText(maskSchema), document = File.ReadAllText(maskDocument).TrimEnd('\n');
    for (int pass = 0; pass < 3; pass++)
    {
        var cost = OpenWeights.Onnx.Benchmarking.ConstraintBenchmark.Replay(tokenizer,
            () => OpenWeights.Onnx.Generation.Constraints.OutputConstraint.JsonSchema(schemaText), document);
        Console.WriteLine($"vocabulary {cost.VocabSize}, {cost.Tokens} tokens: cold {cost.ColdUsPerToken:F1} µs/token ({cost.Walks} walks), cached {cost.WarmUsPerToken:F1} µs/token");
    }
    return 0;
}
if (args is ["moe", var moeOwonnx, var moeWork, var moeOutput, ..])
{
    string? Flag(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    return MoeComparison.Run(new MoeComparison.Options(moeOwonnx, moeWork, moeOutput, int.Parse(Flag("--pairs") ?? "3"),
        int.Parse(Flag("--threads") ?? Environment.ProcessorCount.ToString()), (Flag("--comparisons") ?? "int4,fp32").Split(',')));
}
if (args is ["quantize"])
    return QuantizeBenchmark.Run();
if (args is ["prefix", var prefixModel, ..])
    return await PrefixCacheBenchmark.RunAsync(prefixModel, args.Length > 2 && args[2].Length > 0 ? int.Parse(args[2]) : null,
        args.Length > 3 ? int.Parse(args[3]) : 15);
if (args is ["serve-report", var reportOwonnx, var reportModel, var reportOutput, ..])
{
    string? Flag(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    ServerReport.EnsureModel(reportOwonnx, reportModel);
    if (Flag("--tokenizer-from") is { } tokenizerSource)
        SyntheticTokenizer.EnsureIn(reportModel, tokenizerSource);
    return await ServerReport.RunAsync(new ServerReport.Options(reportOwonnx, reportModel, reportOutput,
        int.Parse(Flag("--threads") ?? Environment.ProcessorCount.ToString()), int.Parse(Flag("--rounds") ?? "3"),
        int.Parse(Flag("--gen-tokens") ?? "64"), int.Parse(Flag("--streams") ?? "8"), int.Parse(Flag("--join-prompt") ?? "1000")));
}
if (args is ["serve", var servedModel, ..])
{
    string? Flag(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    int? threads = args.Length > 2 && int.TryParse(args[2], out int t) ? t : null;
    int[] Ints(string? text, int[] fallback) => text is null ? fallback : text.Split(',').Select(int.Parse).ToArray();
    return await ServerBenchmark.RunAsync(servedModel, threads, Ints(Flag("--max-batch"), [1, 8]), Ints(Flag("--clients"), [32]));
}

string owonnx = args.Length > 0 ? args[0] : FindOwonnx();
string work = args.Length > 1 ? args[1] : Path.Combine(Path.GetTempPath(), "owonnx-bench-convert");
string[] precisions = args.Length > 2 ? args[2..] : ["fp32", "fp16", "int8", "int4"];

string checkpoint = Path.Combine(work, "checkpoint");
Console.Error.WriteLine($"writing synthetic checkpoint to {checkpoint} …");
var (bytes, largest) = SyntheticCheckpoint.Write(checkpoint, SyntheticCheckpoint.OneGigabyte);
double mb = bytes / 1e6;

// Baseline: copy the checkpoint (read + write, same disk) — what "disk speed" means for a converter.
string copy = Path.Combine(work, "copy.safetensors");
var clock = Stopwatch.StartNew();
File.Copy(Path.Combine(checkpoint, "model.safetensors"), copy, overwrite: true);
using (var f = new FileStream(copy, FileMode.Open)) f.Flush(flushToDisk: true);
double copySeconds = clock.Elapsed.TotalSeconds;
File.Delete(copy);

// Second baseline: sequential write of 1 GB with fsync — a converter's floor is writing its own output.
clock.Restart();
using (var f = new FileStream(copy, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
{
    var block = new byte[1 << 20];
    new Random(1).NextBytes(block);
    for (int i = 0; i < 1000; i++) f.Write(block);
    f.Flush(flushToDisk: true);
}
double writeMbPerSecond = 1000 * 1.048576 / clock.Elapsed.TotalSeconds;
File.Delete(copy);

var results = new List<object>();
Console.WriteLine($"checkpoint {mb:F0} MB, largest tensor {largest / 1e6:F0} MB; file copy {mb / copySeconds:F0} MB/s, sequential write {writeMbPerSecond:F0} MB/s");
Console.WriteLine($"{"precision",-10}{"seconds",9}{"MB/s",8}{"vs copy",9}{"vs write",10}{"peak anon MB",14}{"× largest",11}{"output MB",11}{"bits/weight",13}");
foreach (var precision in precisions)
{
    string output = Path.Combine(work, "out-" + precision);
    if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
    var converted = ChildProcess.Run(owonnx, ["convert", checkpoint, "--output", output, "--precision", precision], pollMilliseconds: 5);
    Console.Error.WriteLine(converted.Stdout.Trim());
    double seconds = converted.Elapsed.TotalSeconds;
    long peakAnon = converted.PeakAnonymous;
    long outBytes = Directory.GetFiles(output).Sum(f => new FileInfo(f).Length);
    double parameters = bytes / 2.0;
    var row = new
    {
        precision,
        seconds,
        mb_per_second = mb / seconds,
        fraction_of_copy_speed = copySeconds / seconds,
        fraction_of_output_write_speed = outBytes / 1e6 / writeMbPerSecond / seconds,
        peak_anon_mb = peakAnon / 1e6,
        peak_anon_over_largest_tensor = (double)peakAnon / largest,
        output_mb = outBytes / 1e6,
        bits_per_weight = outBytes * 8 / parameters,
    };
    results.Add(row);
    Console.WriteLine($"{precision,-10}{seconds,9:F1}{row.mb_per_second,8:F0}{row.fraction_of_copy_speed,9:P0}{row.fraction_of_output_write_speed,10:P0}{row.peak_anon_mb,14:F0}{row.peak_anon_over_largest_tensor,11:F2}{row.output_mb,11:F0}{row.bits_per_weight,13:F2}");
    Directory.Delete(output, recursive: true);
}
File.WriteAllText(Path.Combine(work, "convert-bench.json"), JsonSerializer.Serialize(new
{
    checkpoint_mb = mb, largest_tensor_mb = largest / 1e6, copy_mb_per_second = mb / copySeconds,
    write_mb_per_second = writeMbPerSecond, results,
}, new JsonSerializerOptions { WriteIndented = true }));
Directory.Delete(checkpoint, recursive: true);
return 0;

static string FindOwonnx()
{
    var bin = new DirectoryInfo(AppContext.BaseDirectory);
    string rid = bin.Name, framework = bin.Parent!.Name, configuration = bin.Parent.Parent!.Name;
    var repo = bin.Parent.Parent.Parent!.Parent!.Parent!.Parent!;
    return Path.Combine(repo.FullName, "src", "owonnx", "bin", configuration, framework, rid, "owonnx");
}
