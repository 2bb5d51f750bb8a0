using Microsoft.Extensions.Logging;
using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Generation.Sampling;
using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Server.Errors;
using OpenWeights.Onnx.Server.Metrics;
using OpenWeights.Onnx.Server.Requests;
using OpenWeights.Onnx.Server.Scheduling;
using OpenWeights.Onnx.Tokenization;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Server.Hosting;

/// <summary>
/// The loaded model as the API sees it: its id, tokenizer, chat template, sampling defaults (generation_config.json)
/// and the scheduler that runs its one batch decoder. Turns requests into prompt ids and scheduled sequences.
/// </summary>
public sealed class ServedModel : IDisposable
{
    private readonly Lock _templateLock = new();
    private readonly LanguageModel _model;
    private readonly ChatTemplate? _template;
    private readonly IReadOnlyList<(string Id, AdapterFile File)> _adapters;
    // Why the folder's template is not used (refused as unsafe), when it has one.
    private readonly string? _templateProblem;

    private ServedModel(string id, LanguageModel model, TextTokenizer tokenizer, ChatTemplate? template, string? templateProblem,
        SamplingOptions defaults, Scheduler scheduler, IReadOnlyList<(string, AdapterFile)> adapters, ToolCallFormat? toolFormat)
    {
        ToolFormat = toolFormat;
        // Llama's and Mistral's markers are special tokens, which the decoded text leaves out.
        if (toolFormat is not null && tokenizer.TokenToId(toolFormat.Marker) is { } marker && tokenizer.IsSpecialToken(marker))
            ToolMarkerTokenId = marker;
        if (toolFormat is { ArgsMarker.Length: > 0 } && tokenizer.TokenToId(toolFormat.ArgsMarker) is { } args && tokenizer.IsSpecialToken(args))
            ToolArgsTokenId = args;
        _templateProblem = templateProblem;
        Id = id;
        _adapters = adapters;
        _model = model;
        Tokenizer = tokenizer;
        _template = template;
        DefaultSampling = defaults;
        Scheduler = scheduler;
        Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    }

    /// <summary>The base model's id.</summary>
    public string Id { get; }
    /// <summary>Every id served: the base model's, then each adapter's (all sharing the base's weights and batch).</summary>
    public IReadOnlyList<string> Ids => [Id, .. _adapters.Select(a => a.Id)];
    /// <summary>Unix time the model was loaded (<c>created</c> in /v1/models).</summary>
    public long Created { get; }
    public TextTokenizer Tokenizer { get; }
    public SamplingOptions DefaultSampling { get; }
    public Scheduler Scheduler { get; }
    public int MaxLength => Scheduler.MaxLength;
    public int VocabSize => _model.Config.VocabSize;
    /// <summary>How the model writes tool calls (from its template and tokenizer, or --tool-call-format); null: no tools.</summary>
    public ToolCallFormat? ToolFormat { get; }
    /// <summary>The id of <see cref="ToolFormat"/>'s marker when it is a special token (left out of decoded text).</summary>
    public int? ToolMarkerTokenId { get; }
    /// <summary>The id of <see cref="ToolFormat"/>'s <see cref="ToolCallFormat.ArgsMarker"/> when it is a special token.</summary>
    public int? ToolArgsTokenId { get; }

    public static ServedModel Load(ServerOptions options, ServerMetrics metrics, ILogger logger)
    {
        string dir = options.ModelDirectory;
        var model = LanguageModel.Load(dir, options.ToRuntimeOptions());
        ChatTemplate? template = null;
        try
        {
            var tokenizer = TextTokenizer.FromFolder(dir);
            string? templateProblem = null;
            string? templateText = options.ChatTemplateFile is { } templateFile ? File.ReadAllText(templateFile) : tokenizer.ChatTemplate;
            try
            {
                template = string.IsNullOrEmpty(templateText) ? null : new ChatTemplate(dir, templateText);
            }
            catch (ChatTemplateException e)
            {
                // Completions still work; chat requests are answered with the reason.
                templateProblem = e.Message;
                logger.LogWarning("{Problem}", e.Message);
            }
            var defaults = SamplingOptions.FromGenerationConfig(GenerationConfig.Load(Path.Combine(dir, "generation_config.json")));
            var eos = model.Config.EosTokenIds.Union(tokenizer.EosTokenIds).ToArray();
            var adapters = options.Adapters.Select(a => (a.Name, LoadAdapter(a))).ToList();
            var decoder = model.CreateDecoder(options.MaxBatch, adapters.Select(a => a.Item2.Rank).DefaultIfEmpty(0).Max());
            try
            {
                foreach (var (_, file) in adapters)
                    decoder.Adapters!.Check(file);
            }
            catch
            {
                decoder.Dispose();
                throw;
            }
            var scheduler = new Scheduler(decoder, tokenizer, eos, options.MaxQueue, metrics, logger, options.PrefillChunk,
                prefixCache: options.PrefixCache);
            scheduler.Start();
            var toolFormat = options.ToolCallFormat switch
            {
                "auto" => ToolCallFormat.Detect(templateText, tokenizer.AddedTokens.Select(a => a.Content)),
                "none" => null,
                var name => ToolCallFormat.FromName(name),
            };
            return new ServedModel(options.EffectiveModelName, model, tokenizer, template, templateProblem, defaults, scheduler, adapters, toolFormat);
        }
        catch
        {
            template?.Dispose();
            model.Dispose();
            throw;
        }
    }

    private static AdapterFile LoadAdapter(ServedAdapterOption option)
    {
        try
        {
            return AdapterFile.Load(option.Path);
        }
        catch (Checkpoints.CheckpointException e)
        {
            throw new Runtime.ModelLoadException($"adapter '{option.Name}': {e.Message}", e);
        }
    }

    /// <summary>The adapter a model id names (null: the base model); 404 model_not_found for any other id.</summary>
    public AdapterFile? Resolve(string model)
    {
        if (string.Equals(model, Id, StringComparison.Ordinal))
            return null;
        foreach (var (id, file) in _adapters)
            if (string.Equals(model, id, StringComparison.Ordinal))
                return file;
        throw OpenAiException.ModelNotFound(model);
    }

    /// <summary>The conversation rendered by the model's own chat template, as token ids (the template writes any BOS).</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition>? tools = null)
    {
        if (_templateProblem is not null)
            throw new OpenAiException(500, $"The model's chat template cannot be used: {_templateProblem}", OpenAiException.ServerError,
                "messages", "chat_template_unusable");
        if (_template is null)
            throw OpenAiException.BadRequest(
                $"The model '{Id}' has no chat template (tokenizer_config.json); use /v1/completions with a raw prompt.",
                "messages", "chat_template_missing");
        string prompt;
        try
        {
            lock (_templateLock)
                prompt = _template.Render(messages, tools, addGenerationPrompt: true);
        }
        catch (ChatTemplateException e) when (e.InnerException is null)
        {
            // Not these messages' fault: the template overran its time or output limit.
            throw new OpenAiException(500, $"The model's chat template failed: {e.Message}", OpenAiException.ServerError,
                "messages", "chat_template_error");
        }
        catch (ChatTemplateException e)
        {
            // Templates reject conversations they do not accept (e.g. roles that must alternate) by raising.
            throw OpenAiException.BadRequest($"The model's chat template could not render these messages: {e.Message}",
                "messages", "invalid_value");
        }
        return Tokenizer.Encode(prompt, addSpecialTokens: false);
    }

    /// <summary>The format tool calls are read in; 400 when the model's template cannot offer tools.</summary>
    public ToolCallFormat RequireToolFormat() => ToolFormat ?? throw OpenAiException.BadRequest(
        $"The model '{Id}' cannot be offered tools: its chat template does not show them to it (or its tool-call format is " +
        "not known). Serve it with --chat-template FILE (a template that reads 'tools') and, if needed, --tool-call-format.",
        "tools", "tools_unsupported");

    /// <summary>A raw prompt as ids: text with the tokenizer's special tokens (as <c>owonnx run</c>), or ids checked against the vocabulary.</summary>
    internal int[] EncodeCompletion(CompletionRequest request)
    {
        int[] ids = request.PromptIds ?? Tokenizer.Encode(request.PromptText ?? "", addSpecialTokens: true);
        if (ids.Length == 0)
            throw OpenAiException.BadRequest("The prompt is empty (it encodes to no tokens).", "prompt", "empty_prompt");
        foreach (int id in ids)
            if (id >= VocabSize)
                throw OpenAiException.InvalidValue("prompt", $"token id {id} is outside the vocabulary [0, {VocabSize}).");
        return ids;
    }

    /// <summary>Queues a sequence; 429 (with Retry-After) when at capacity, 503 when shutting down.</summary>
    public SequenceHandle Submit(int[] promptIds, GenerationOptions options, bool logProbs, CancellationToken cancellation,
        AdapterFile? adapter = null) => Submit(promptIds, options, logProbs, cancellation, adapter, choices: 1)[0];

    /// <summary>
    /// Queues <paramref name="choices"/> sequences sharing the prompt (OpenAI's <c>n</c>); 400 on <c>n</c> when they
    /// cannot decode together (more than the batch slots), 429 when at capacity, 503 when shutting down.
    /// </summary>
    public IReadOnlyList<SequenceHandle> Submit(int[] promptIds, GenerationOptions options, bool logProbs, CancellationToken cancellation,
        AdapterFile? adapter, int choices)
    {
        if (choices > Scheduler.Slots)
            throw OpenAiException.InvalidValue("n",
                $"n = {choices} exceeds the {Scheduler.Slots} batch slots of this server (--max-batch): the choices of a request decode together. Use n <= {Scheduler.Slots}.");
        if (options.Sampling.LogitBias is { } bias)
            foreach (int id in bias.Keys)
                if (id >= VocabSize)
                    throw OpenAiException.InvalidValue("logit_bias", $"Invalid key in 'logit_bias': token id {id} is outside the vocabulary [0, {VocabSize}).");
        try
        {
            return Scheduler.SubmitChoices(new SequenceRequest
            {
                PromptIds = promptIds,
                Options = options,
                LogProbs = logProbs,
                Adapter = adapter,
                Cancellation = cancellation,
            }, choices);
        }
        catch (SchedulerRejectedException e) when (e.Reason == SchedulerRejection.QueueFull)
        {
            throw OpenAiException.QueueFull(retryAfterSeconds: 1);
        }
        catch (SchedulerRejectedException e)
        {
            throw OpenAiException.Unavailable($"The server is shutting down: {e.Message}");
        }
    }

    public void Dispose()
    {
        Scheduler.Dispose();
        _template?.Dispose();
        _model.Dispose();
    }
}
