using System.Diagnostics;
using System.Text;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Benchmarking;

/// <summary>
/// What a constraint costs per decoded token, against free sampling measured in the same run: a decode step is the
/// model's Run plus choosing the token (<see cref="SequenceGenerator.Advance"/>: mask, sampling, detokenizing); the
/// mask's share is the difference of the choosing times. Medians over the repeats (the two runs alternate).
/// </summary>
/// <param name="StepMsFree">Decode step (Run + choose) without the constraint, ms per token.</param>
/// <param name="StepMsConstrained">The same with the constraint.</param>
/// <param name="StepRatio">Constrained ÷ free step time.</param>
/// <param name="ChooseUsFree">Choosing the token without the constraint, µs per token.</param>
/// <param name="ChooseUsConstrained">Choosing it with the constraint (masking included), µs per token.</param>
/// <param name="MaskUsPerToken">The difference: what the constraint adds per token, µs.</param>
/// <param name="Documents">Documents completed during the constrained runs (a new one starts after each).</param>
/// <param name="MaskWalks">Masks computed by a trie walk (a parser state met for the first time).</param>
/// <param name="MaskHits">Masks found in the constraint's cache.</param>
/// <param name="VocabSize">The tokenizer's vocabulary.</param>
public sealed record ConstraintCost(int Tokens, double StepMsFree, double StepMsConstrained, double StepRatio,
    double ChooseUsFree, double ChooseUsConstrained, double MaskUsPerToken, int Documents, long MaskWalks, long MaskHits, int VocabSize);

/// <summary>Masks replayed over the tokens of one document: the first pass computes them (cold), the second finds them cached.</summary>
public sealed record MaskReplayCost(int VocabSize, int Tokens, double ColdUsPerToken, double WarmUsPerToken, long Walks);

public static class ConstraintBenchmark
{
    public static ConstraintCost Measure(LanguageModel model, TextTokenizer tokenizer, OutputConstraint constraint,
        int promptTokens, int tokens, int repeat, int seed, CancellationToken cancellationToken = default)
    {
        var random = new Random(seed);
        var prompt = Enumerable.Range(0, promptTokens).Select(_ => random.Next(tokenizer.VocabSize)).ToArray();
        using var decoder = model.CreateDecoder(1);
        var eos = model.Config.EosTokenIds.Union(tokenizer.EosTokenIds).ToArray();
        var sequence = new SequenceGenerator(decoder.VocabSize, eos, decoder.MaxLength, decoder.Config.RopeSwitchLength);

        var stepFree = new List<double>();
        var stepConstrained = new List<double>();
        var chooseFree = new List<double>();
        var chooseConstrained = new List<double>();
        int documents = 0;
        ConstraintMatcher? last = null;
        for (int r = -1; r < repeat; r++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (bool constrained in r % 2 == 0 ? new[] { true, false } : [false, true])
            {
                var options = new GenerationOptions
                {
                    MaxNewTokens = tokens,
                    StopAtEos = constrained, // free text runs the whole budget; a document may end at EOS
                    Constraint = constrained ? constraint : null,
                    Sampling = new SamplingOptions { Temperature = 1f, Seed = seed + r },
                };
                var (run, choose, done) = Run(decoder, sequence, prompt, options, tokenizer, tokens);
                if (constrained)
                    last = sequence.Constraint;
                if (r < 0)
                    continue; // warm-up: JIT, ORT's arena, the constraint's first masks
                (constrained ? stepConstrained : stepFree).Add((run + choose) * 1e3 / tokens);
                (constrained ? chooseConstrained : chooseFree).Add(choose * 1e6 / tokens);
                if (constrained)
                    documents += done;
            }
        }
        double free = Statistic.Of(stepFree).Median, with = Statistic.Of(stepConstrained).Median;
        double cf = Statistic.Of(chooseFree).Median, cc = Statistic.Of(chooseConstrained).Median;
        return new ConstraintCost(tokens, free, with, with / free, cf, cc, cc - cf, documents,
            last?.MaskWalks ?? 0, last?.MaskHits ?? 0, tokenizer.VocabSize);
    }

    /// <summary>Decodes <paramref name="tokens"/> tokens, starting a new sequence whenever one finishes.</summary>
    private static (double RunSeconds, double ChooseSeconds, int Finished) Run(Runtime.BatchDecoder decoder, SequenceGenerator sequence,
        int[] prompt, GenerationOptions options, TextTokenizer tokenizer, int tokens)
    {
        long runTicks = 0, chooseTicks = 0;
        int finished = 0;
        int[] step = new int[1];
        bool[] active = [true];
        Span<float> logits = default;
        bool fresh = true;
        for (int produced = 0; produced < tokens;)
        {
            if (fresh)
            {
                decoder.Rewind(0, 0);
                logits = decoder.Append(0, prompt); // prefill is not what is measured
                sequence.Begin(prompt, options, tokenizer, logProbs: false);
                fresh = false;
            }
            long t0 = Stopwatch.GetTimestamp();
            bool ok = sequence.Advance(logits);
            long t1 = Stopwatch.GetTimestamp();
            chooseTicks += t1 - t0;
            if (!ok || sequence.Finish is not null)
            {
                finished++;
                fresh = true;
                if (!ok)
                    continue;
            }
            produced++;
            if (fresh)
                continue;
            step[0] = sequence.Current;
            long t2 = Stopwatch.GetTimestamp();
            logits = decoder.Step(step, active);
            runTicks += Stopwatch.GetTimestamp() - t2;
        }
        return ((double)runTicks / Stopwatch.Frequency, (double)chooseTicks / Stopwatch.Frequency, finished);
    }

    /// <summary>
    /// Masks over the tokens of <paramref name="document"/> (as the tokenizer encodes it; it must satisfy the
    /// constraint), without a model: the cost of the constraint alone for a vocabulary, cold and then cached.
    /// </summary>
    public static MaskReplayCost Replay(TextTokenizer tokenizer, Func<OutputConstraint> constraint, string document)
    {
        int[] ids = tokenizer.Encode(document, addSpecialTokens: false);
        var logits = new float[tokenizer.VocabSize];
        var fresh = constraint(); // a new constraint: its mask cache starts empty
        double cold = Pass(fresh.Start(tokenizer), out long walks);
        double warm = Pass(fresh.Start(tokenizer), out _);
        return new MaskReplayCost(tokenizer.VocabSize, ids.Length, cold, warm, walks);

        double Pass(ConstraintMatcher matcher, out long computed)
        {
            long ticks = 0;
            foreach (int id in ids)
            {
                long t0 = Stopwatch.GetTimestamp();
                matcher.Mask(logits);
                if (!matcher.Allows(id))
                    throw new ArgumentException($"the document's token {id} ({Encoding.UTF8.GetString(tokenizer.TokenBytes(id))}) is not allowed by the constraint.");
                matcher.Accept(tokenizer.TokenBytes(id));
                ticks += Stopwatch.GetTimestamp() - t0;
            }
            computed = matcher.MaskWalks;
            return ticks * 1e6 / Stopwatch.Frequency / ids.Length;
        }
    }
}
