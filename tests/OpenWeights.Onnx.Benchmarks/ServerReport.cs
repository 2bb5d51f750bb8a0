using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using OpenWeights.Onnx.Server;
using OpenWeights.Onnx.Benchmarking;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// Issue 11's server targets on one model, each against a baseline measured in the same round, rounds interleaved:
/// <list type="bullet">
/// <item>baselines: <c>owonnx bench</c> single-stream decode (ORT's spinning default, and spinning off as the server
/// runs) and <c>owonnx run</c>'s decode tokens/s, same prompt, threads and length as the lone request;</item>
/// <item>a lone streamed request at <c>--max-batch 1</c> and <c>8</c>: decode tokens/s as its client sees them,
/// (n − 1) ÷ (last token − first token), the way <c>run</c> counts — ÷ <c>run</c> (target ≥ 0.95×);</item>
/// <item>8 concurrent streams: generated tokens ÷ wall time from sending to the last end — ÷ <c>bench</c> decode
/// (target ≥ 3×);</item>
/// <item>join stall: while 7 streams decode, a long prompt (default 1000 tokens) joins; the running streams' largest
/// gap between tokens while it is read, against one decode step (their median gap before the join) plus one chunk
/// of prefill (<see cref="OpenWeights.Onnx.Server.Scheduling.Scheduler.DefaultPrefillChunk"/> tokens at
/// <c>bench</c>'s prefill speed) — target: no larger.</item>
/// </list>
/// The server runs in this process (the client's work shares the cores, as a local client's would). Writes
/// server.json and server.md with the machine and the load average before and after.
/// </summary>
public static class ServerReport
{
    public sealed record Options(string Owonnx, string Model, string Output, int Threads, int Rounds = 3, int GenTokens = 64,
        int Streams = 8, int JoinPromptTokens = 1000, string Prompt = "A fool and his money");

    private const int PreJoinTokens = 6;

    public static async Task<int> RunAsync(Options o)
    {
        Directory.CreateDirectory(o.Output);
        string loadBefore = LoadAverage();
        var rounds = new List<JsonObject>();
        for (int r = 0; r < o.Rounds; r++)
        {
            var round = new JsonObject();
            var bench = Bench(o, spinning: null);
            round["bench_decode"] = bench.Decode;
            round["bench_prefill"] = bench.Prefill;
            round["bench_decode_spinning_off"] = Bench(o, spinning: "off").Decode;
            // What the kernels give 8 rows at once, without the server: the ceiling for the concurrent streams.
            round["bench_batch_decode"] = Bench(o, spinning: "off", batch: o.Streams).Decode;
            round["run_decode"] = RunDecode(o);
            foreach (var (key, value) in await ServeAsync(o, maxBatch: 1, full: false))
                round[key] = value?.DeepClone();
            foreach (var (key, value) in await ServeAsync(o, maxBatch: o.Streams, full: true))
                round[key] = value?.DeepClone();
            double run = round["run_decode"]!.GetValue<double>(), benchDecode = bench.Decode;
            round["lone_mb1_over_run"] = round["lone_mb1"]!.GetValue<double>() / run;
            round[$"lone_mb{o.Streams}_over_run"] = round[$"lone_mb{o.Streams}"]!.GetValue<double>() / run;
            round["streams_over_bench"] = round["streams_aggregate"]!.GetValue<double>() / benchDecode;
            round["streams_decode_over_bench"] = round["streams_decode_aggregate"]!.GetValue<double>() / benchDecode;
            round["streams_over_bench_batch"] = round["streams_decode_aggregate"]!.GetValue<double>() / round["bench_batch_decode"]!.GetValue<double>();
            double chunkSeconds = OpenWeights.Onnx.Server.Scheduling.Scheduler.DefaultPrefillChunk / bench.Prefill;
            round["chunk_prefill_ms"] = chunkSeconds * 1000;
            double bound = round["join_step_ms"]!.GetValue<double>() + chunkSeconds * 1000;
            round["join_bound_ms"] = bound;
            round["join_max_gap_over_bound"] = round["join_max_gap_ms"]!.GetValue<double>() / bound;
            round["join_max_gap_over_iteration"] = round["join_max_gap_ms"]!.GetValue<double>() / round["join_iteration_ms"]!.GetValue<double>();
            Console.Error.WriteLine($"round {r + 1}: {round.ToJsonString()}");
            rounds.Add(round);
        }

        var summary = new JsonObject();
        foreach (string key in rounds[0].Select(kv => kv.Key))
            summary[key] = Statistic.Of(rounds.Select(x => x[key]!.GetValue<double>()).ToList()).Median;
        var report = new JsonObject
        {
            ["machine"] = DecodeComparison.Machine(),
            ["model"] = Path.GetFullPath(o.Model),
            ["tokenizer"] = "synthetic: the sample's byte-level BPE padded with unreachable entries to the model's vocabulary (measures the engine, not a tokenizer)",
            ["threads"] = o.Threads,
            ["gen_tokens"] = o.GenTokens,
            ["streams"] = o.Streams,
            ["join_prompt_tokens"] = o.JoinPromptTokens,
            ["prefill_chunk"] = OpenWeights.Onnx.Server.Scheduling.Scheduler.DefaultPrefillChunk,
            ["prompt"] = o.Prompt,
            ["load_average_before"] = loadBefore,
            ["load_average_after"] = LoadAverage(),
            ["medians"] = summary,
            ["rounds"] = new JsonArray(rounds.Select(x => (JsonNode)x).ToArray()),
        };
        File.WriteAllText(Path.Combine(o.Output, "server.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(o.Output, "server.md"), Markdown(report, summary, rounds, o));
        Console.WriteLine(File.ReadAllText(Path.Combine(o.Output, "server.md")));
        return 0;
    }

    /// <summary>
    /// When <paramref name="model"/> has no model.onnx: writes the TinyLlama-shaped random checkpoint beside it
    /// (tinyllama-random, as the decode benchmark does) and converts it to INT4 there.
    /// </summary>
    public static void EnsureModel(string owonnx, string model)
    {
        if (File.Exists(Path.Combine(model, "model.onnx")))
            return;
        string checkpoint = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(Path.TrimEndingDirectorySeparator(model)))!, "tinyllama-random");
        if (!File.Exists(Path.Combine(checkpoint, "config.json")))
        {
            Console.Error.WriteLine($"writing a TinyLlama-shaped random checkpoint to {checkpoint} …");
            SyntheticCheckpoint.Write(checkpoint, DecodeComparison.TinyLlama);
        }
        ChildProcess.Run(owonnx, ["convert", checkpoint, "--output", model, "--precision", "int4", "--overwrite"]);
    }

    /// <summary>One server; a lone request, then (when <paramref name="full"/>) concurrent streams and the join stall.</summary>
    private static async Task<JsonObject> ServeAsync(Options o, int maxBatch, bool full)
    {
        var options = new ServerOptions
        {
            ModelDirectory = o.Model, Host = "127.0.0.1", Port = 0, MaxBatch = maxBatch, MaxQueue = 64, Threads = o.Threads,
            HandleSignals = false, ConsoleLogging = false, ShutdownTimeout = TimeSpan.FromSeconds(10),
        };
        await using var server = OpenAiServer.Create(options);
        await server.StartAsync();
        await server.Model.Ready.WaitAsync(TimeSpan.FromMinutes(5));
        var scheduler = server.Model.Model!.Scheduler;
        using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(20) };
        string model = Path.GetFileName(Path.TrimEndingDirectorySeparator(o.Model));
        object Body(object prompt, int tokens) => new
        {
            model, prompt, max_tokens = tokens, ignore_eos = true, temperature = 0, stream = true,
            stream_options = new { include_usage = true },
        };
        await StreamedCompletion.RunAsync(http, Body(o.Prompt, 4)); // warm-up

        var result = new JsonObject();
        long steps = scheduler.Steps, rows = scheduler.RowsRun;
        var lone = await StreamedCompletion.RunAsync(http, Body(o.Prompt, o.GenTokens));
        result[$"lone_mb{maxBatch}"] = lone.DecodeTokensPerSecond;
        result[$"lone_mb{maxBatch}_rows_per_step"] = (double)(scheduler.RowsRun - rows) / Math.Max(1, scheduler.Steps - steps);
        Console.Error.WriteLine($"max-batch {maxBatch}: lone request {lone.CompletionTokens} tokens, {lone.DecodeTokensPerSecond:F2} tokens/s after the first");
        if (!full)
        {
            await server.StopAsync(CancellationToken.None);
            return result;
        }

        // Concurrent streams: distinct prompts (different lengths), as real traffic.
        string[] prompts = [o.Prompt, "Tell me a fortune.", "You will", "The night is", "Luck favours", "Beware of", "A wise man once said", "Tomorrow"];
        steps = scheduler.Steps;
        rows = scheduler.RowsRun;
        long start = Stopwatch.GetTimestamp();
        var streams = await Task.WhenAll(Enumerable.Range(0, o.Streams).Select(i => StreamedCompletion.RunAsync(http, Body(prompts[i % prompts.Length], o.GenTokens))));
        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        result["streams_aggregate"] = streams.Sum(s => s.CompletionTokens) / wall;
        // Decode only, like bench's figure: tokens that arrived while every stream was decoding (after the last first
        // token, up to the first last token) over that window; the wall figure above also holds the 8 prompts' reads.
        long from = streams.Max(s => s.Arrivals[0]), to = streams.Min(s => s.Arrivals[^1]);
        int inWindow = streams.Sum(s => s.Arrivals.Count(t => t > from && t <= to));
        result["streams_decode_aggregate"] = inWindow / Stopwatch.GetElapsedTime(from, to).TotalSeconds;
        result["streams_rows_per_step"] = (double)(scheduler.RowsRun - rows) / Math.Max(1, scheduler.Steps - steps);
        Console.Error.WriteLine($"{o.Streams} streams: {streams.Sum(s => s.CompletionTokens)} tokens in {wall:F2} s, {result["streams_aggregate"]} tokens/s");

        // Join stall: Streams − 1 running streams, then a long prompt of token ids joins.
        int chunks = (o.JoinPromptTokens + OpenWeights.Onnx.Server.Scheduling.Scheduler.DefaultPrefillChunk - 1) / OpenWeights.Onnx.Server.Scheduling.Scheduler.DefaultPrefillChunk;
        int runningTokens = PreJoinTokens + o.Streams + chunks + 8;
        var running = Enumerable.Range(0, o.Streams - 1)
            .Select(i => StreamedCompletion.RunAsync(http, Body(prompts[i % prompts.Length], runningTokens))).ToArray();
        // Every stream admitted and a few steps run: the step count tells (the streams' own objects exist only at their end).
        long stepsAtStart = scheduler.Steps;
        while (scheduler.Steps - stepsAtStart < PreJoinTokens + o.Streams && running.All(t => !t.IsCompleted))
            await Task.Delay(5);
        var random = new Random(11);
        int[] longPrompt = Enumerable.Range(0, o.JoinPromptTokens).Select(_ => random.Next(3, 2000)).ToArray();
        long joinSent = Stopwatch.GetTimestamp();
        var join = await StreamedCompletion.RunAsync(http, Body(longPrompt, 2));
        long joinRead = join.Arrivals.Count > 0 ? join.Arrivals[0] : Stopwatch.GetTimestamp();
        var done = await Task.WhenAll(running);
        var before = new List<double>();
        double maxGap = 0;
        foreach (var s in done)
            for (int i = 1; i < s.Arrivals.Count; i++)
            {
                double gap = Stopwatch.GetElapsedTime(s.Arrivals[i - 1], s.Arrivals[i]).TotalMilliseconds;
                if (s.Arrivals[i] <= joinSent)
                    before.Add(gap);
                else if (s.Arrivals[i - 1] < joinRead)
                    maxGap = Math.Max(maxGap, gap); // a gap that overlaps the join
            }
        if (before.Count == 0)
            throw new InvalidOperationException("no token arrived before the long prompt joined: the streams' steps could not be timed.");
        if (done.Any(s => s.Arrivals.Count == 0 || s.Arrivals[^1] < joinRead))
            throw new InvalidOperationException("a running stream ended before the long prompt was read: raise its max_tokens.");
        result["join_step_ms"] = Statistic.Of(before.ToList()).Median;
        result["join_max_gap_ms"] = maxGap;
        result["join_time_to_first_token_ms"] = Stopwatch.GetElapsedTime(joinSent, joinRead).TotalMilliseconds;
        result["join_chunks"] = (double)chunks;
        // Each chunk is followed by the running streams' step: the prompt's time to first token ÷ chunks ≈ chunk + step
        // as the server ran them (later chunks attend to more of the prompt than bench's 128-token prefill does).
        result["join_iteration_ms"] = result["join_time_to_first_token_ms"]!.GetValue<double>() / chunks;
        Console.Error.WriteLine($"join of {o.JoinPromptTokens} tokens: read in {result["join_time_to_first_token_ms"]} ms; running streams' step {result["join_step_ms"]} ms before, largest gap during {maxGap:F0} ms");
        await server.StopAsync(CancellationToken.None);
        return result;
    }

    private static (double Decode, double Prefill) Bench(Options o, string? spinning, int batch = 1)
    {
        // A batch reads short prompts (its prefill is not what it measures) once after the warm-up.
        var args = new List<string> { "bench", o.Model, "--prompt-tokens", batch == 1 ? "128" : "16", "--gen-tokens", Text(o.GenTokens),
            "--repeat", batch == 1 ? "2" : "1", "--batch", Text(batch), "--threads", Text(o.Threads), "--json" };
        if (spinning is not null)
            args.AddRange(["--spinning", spinning]);
        var json = JsonNode.Parse(ChildProcess.Run(o.Owonnx, args).Stdout)!;
        return (json["decode_tokens_per_second"]!["median"]!.GetValue<double>(), json["prefill_tokens_per_second"]!["median"]!.GetValue<double>());
    }

    /// <summary><c>owonnx run</c>'s decode tokens/s from its statistics line ("…, then N tokens/s").</summary>
    private static double RunDecode(Options o)
    {
        string stderr = ChildProcess.Run(o.Owonnx, ["run", o.Model, "--prompt", o.Prompt, "--max-new-tokens", Text(o.GenTokens), "--ignore-eos", "--threads", Text(o.Threads)]).Stderr;
        var match = Regex.Match(stderr, @"then ([0-9.]+) tokens/s");
        if (!match.Success)
            throw new InvalidOperationException($"owonnx run printed no decode speed: {stderr}");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static string Markdown(JsonObject report, JsonObject m, List<JsonObject> rounds, Options o)
    {
        string F(string key, string format = "F2") => m[key]!.GetValue<double>().ToString(format, CultureInfo.InvariantCulture);
        string Each(string key, string format = "F2") => string.Join(" / ", rounds.Select(r => r[key]!.GetValue<double>().ToString(format, CultureInfo.InvariantCulture)));
        string Met(double value, double target, bool atMost = false) => (atMost ? value <= target : value >= target) ? "met" : "**missed**";
        var md = new StringBuilder();
        md.AppendLine($"Machine: {report["machine"]}; {o.Threads} threads; load average before {report["load_average_before"]}, after {report["load_average_after"]}.");
        md.AppendLine($"Model: {report["model"]} (tokenizer {report["tokenizer"]}). Medians of per-round figures over {rounds.Count} interleaved rounds (each round: bench, run, then the servers); per-round values after the slash-separated lists.");
        md.AppendLine($"Generation: {o.GenTokens} tokens per request (ignore_eos, greedy), prompt \"{o.Prompt}\"; join: {o.JoinPromptTokens}-token prompt, chunk {report["prefill_chunk"]}.");
        md.AppendLine();
        md.AppendLine("| figure | median | rounds | target |");
        md.AppendLine("| --- | --- | --- | --- |");
        md.AppendLine($"| `owonnx bench` decode t/s (baseline; ORT spinning default) | {F("bench_decode")} | {Each("bench_decode")} | |");
        md.AppendLine($"| `owonnx bench --spinning off` decode t/s (as the server runs) | {F("bench_decode_spinning_off")} | {Each("bench_decode_spinning_off")} | |");
        md.AppendLine($"| `owonnx bench` prefill t/s (128-token prompt) | {F("bench_prefill")} | {Each("bench_prefill")} | |");
        md.AppendLine($"| `owonnx run` decode t/s (baseline) | {F("run_decode")} | {Each("run_decode")} | |");
        md.AppendLine($"| lone request, `--max-batch 1`, decode t/s | {F("lone_mb1")} | {Each("lone_mb1")} | |");
        md.AppendLine($"| ÷ `run` | {F("lone_mb1_over_run")}× | {Each("lone_mb1_over_run")} | ≥ 0.95×: {Met(m["lone_mb1_over_run"]!.GetValue<double>(), 0.95)} |");
        md.AppendLine($"| lone request, `--max-batch {o.Streams}`, decode t/s (rows per step {F($"lone_mb{o.Streams}_rows_per_step")}) | {F($"lone_mb{o.Streams}")} | {Each($"lone_mb{o.Streams}")} | |");
        md.AppendLine($"| ÷ `run` | {F($"lone_mb{o.Streams}_over_run")}× | {Each($"lone_mb{o.Streams}_over_run")} | ≥ 0.95×: {Met(m[$"lone_mb{o.Streams}_over_run"]!.GetValue<double>(), 0.95)} |");
        md.AppendLine($"| {o.Streams} concurrent streams, aggregate generated t/s (wall; rows per step {F("streams_rows_per_step")}) | {F("streams_aggregate")} | {Each("streams_aggregate")} | |");
        md.AppendLine($"| ÷ `bench` single-stream decode | {F("streams_over_bench")}× | {Each("streams_over_bench")} | ≥ 3×: {Met(m["streams_over_bench"]!.GetValue<double>(), 3)} |");
        md.AppendLine($"| {o.Streams} streams, aggregate decode t/s while all decode (no prompt reads: bench's measure) | {F("streams_decode_aggregate")} | {Each("streams_decode_aggregate")} | |");
        md.AppendLine($"| ÷ `bench` single-stream decode | {F("streams_decode_over_bench")}× | {Each("streams_decode_over_bench")} | ≥ 3×: {Met(m["streams_decode_over_bench"]!.GetValue<double>(), 3)} |");
        md.AppendLine($"| `owonnx bench --batch {o.Streams} --spinning off` aggregate decode t/s (the kernels' ceiling, no server) | {F("bench_batch_decode")} | {Each("bench_batch_decode")} | |");
        md.AppendLine($"| streams' decode aggregate ÷ that (what the server keeps of it) | {F("streams_over_bench_batch")}× | {Each("streams_over_bench_batch")} | |");
        md.AppendLine($"| join: running streams' step before the join, ms | {F("join_step_ms", "F0")} | {Each("join_step_ms", "F0")} | |");
        md.AppendLine($"| join: one chunk's prefill at bench's speed, ms | {F("chunk_prefill_ms", "F0")} | {Each("chunk_prefill_ms", "F0")} | |");
        md.AppendLine($"| join: largest gap between the running streams' tokens while the prompt is read, ms | {F("join_max_gap_ms", "F0")} | {Each("join_max_gap_ms", "F0")} | |");
        md.AppendLine($"| ÷ (step + chunk) | {F("join_max_gap_over_bound")}× | {Each("join_max_gap_over_bound")} | ≤ 1×: {Met(m["join_max_gap_over_bound"]!.GetValue<double>(), 1, atMost: true)} |");
        md.AppendLine($"| join: the long prompt's time to first token, ms ({F("join_chunks", "F0")} chunks) | {F("join_time_to_first_token_ms", "F0")} | {Each("join_time_to_first_token_ms", "F0")} | |");
        md.AppendLine($"| join: that ÷ chunks (one chunk + one step as the server ran them), ms | {F("join_iteration_ms", "F0")} | {Each("join_iteration_ms", "F0")} | |");
        md.AppendLine($"| largest gap ÷ that | {F("join_max_gap_over_iteration")}× | {Each("join_max_gap_over_iteration")} | |");
        return md.ToString();
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?";

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

}
