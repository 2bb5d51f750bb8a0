using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Server.Scheduling;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>A scheduler over the sample model, recording every run it makes, with helpers to read a sequence to its end.</summary>
internal sealed class SchedulerHarness : IDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    /// <param name="copyThroughProvider">Slot copies run through <see cref="OpenWeights.Onnx.Runtime.ProviderCopier"/> (a device cache's path) on host memory.</param>
    public SchedulerHarness(int slots, int maxQueue = 8, bool prefixCache = true, int prefillChunk = Scheduler.DefaultPrefillChunk,
        bool copyThroughProvider = false)
    {
        string dir = FortuneReference.ConvertedFp32;
        Model = LanguageModel.Load(dir);
        Tokenizer = TextTokenizer.FromFolder(dir);
        var eos = Model.Config.EosTokenIds.Union(Tokenizer.EosTokenIds).ToArray();
        var decoder = copyThroughProvider
            ? new OpenWeights.Onnx.Runtime.BatchDecoder(Model.Session, Model.Config, slots, Model.MaxLength, placement: OpenWeights.Onnx.Runtime.BufferPlacement.HostCopyingThroughProvider())
            : Model.CreateDecoder(slots);
        Scheduler = new Scheduler(decoder, Tokenizer, eos, maxQueue, prefillChunk: prefillChunk, prefixCache: prefixCache);
        Scheduler.Observer = Work.Enqueue;
        Scheduler.Start();
    }

    public System.Collections.Concurrent.ConcurrentQueue<SchedulerWork> Work { get; } = new();
    public LanguageModel Model { get; }
    public TextTokenizer Tokenizer { get; }
    public Scheduler Scheduler { get; }

    public SequenceHandle Submit(int[] prompt, GenerationOptions options, bool logProbs = false) =>
        Scheduler.Submit(new SequenceRequest { PromptIds = prompt, Options = options, LogProbs = logProbs });

    /// <summary>Prompt tokens run (all prefill chunks) so far.</summary>
    public int PromptTokensRun => Work.Where(w => w.Kind == SchedulerWorkKind.Prefill).Sum(w => w.Count);

    public static async Task<Finished> ReadAllAsync(SequenceHandle handle)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var tokens = new List<TokenGenerated>();
        await foreach (var e in handle.Events.ReadAllAsync(timeout.Token))
            switch (e)
            {
                case TokenGenerated t when t.TokenId >= 0:
                    tokens.Add(t);
                    break;
                case SequenceFinished f:
                    return new Finished(tokens, f);
                case SequenceFailed f:
                    Assert.Fail($"the sequence failed: {f.Message}");
                    break;
            }
        throw new AssertFailedException("the event stream ended without a finish");
    }

    public void Dispose()
    {
        Scheduler.Dispose();
        Model.Dispose();
    }
}

internal sealed record Finished(IReadOnlyList<TokenGenerated> Tokens, SequenceFinished End)
{
    public int[] Ids => Tokens.Select(t => t.TokenId).ToArray();
}
