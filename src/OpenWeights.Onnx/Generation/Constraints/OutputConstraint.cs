using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>
/// What the generated text must be, enforced while sampling: every token whose bytes cannot continue a valid
/// document is masked out, and once the document is complete the sequence ends (finish reason stop). Constraints
/// compose: <see cref="Sequence"/> of <see cref="Literal"/> texts and JSON values (a tool call wrapped in its
/// markers), <see cref="Choice"/> between alternatives that start with different literal texts (one of several
/// functions). Immutable and thread-safe: one constraint serves any number of sequences, each with its own
/// <see cref="ConstraintMatcher"/> (<see cref="Start"/>), and shares their token masks per tokenizer.
/// </summary>
/// <remarks>
/// JSON is written compactly: no whitespace except at most one space after a <c>:</c> or a <c>,</c> (a model cannot
/// stall in whitespace); numbers have at most 16 integer and 16 fraction digits and a 2-digit exponent; free JSON
/// values nest at most about 20 deep. Schema objects' property names are written without escapes.
/// </remarks>
public abstract class OutputConstraint
{
    private readonly ConditionalWeakTable<object, TokenMaskCache> _masks = new();
    private Grammar? _grammar;

    private protected OutputConstraint()
    {
    }

    /// <summary>Any JSON object (OpenAI's <c>response_format: {"type": "json_object"}</c>).</summary>
    public static OutputConstraint JsonObject() => new JsonObjectConstraint();

    /// <summary>
    /// A JSON value valid against a JSON Schema: <c>type</c> (one or several), objects with <c>properties</c>,
    /// <c>required</c> and <c>additionalProperties</c>, arrays with <c>items</c>, <c>minItems</c>, <c>maxItems</c>,
    /// <c>enum</c>, <c>const</c>, <c>anyOf</c>/<c>oneOf</c> of alternatives that start differently (different
    /// types), local non-recursive <c>$ref</c>. Keywords that constrain values in other ways (<c>pattern</c>,
    /// <c>minimum</c>, <c>minLength</c>, …) are refused with a <see cref="JsonSchemaException"/> naming them, rather
    /// than ignored.
    /// </summary>
    public static OutputConstraint JsonSchema(JsonElement schema) => new JsonSchemaConstraint(schema.Clone());

    /// <inheritdoc cref="JsonSchema(JsonElement)"/>
    public static OutputConstraint JsonSchema(string schemaJson)
    {
        ArgumentNullException.ThrowIfNull(schemaJson);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(schemaJson);
        }
        catch (JsonException e)
        {
            throw new JsonSchemaException("#", $"the schema is not valid JSON: {e.Message}");
        }
        using (doc)
            return JsonSchema(doc.RootElement);
    }

    /// <summary>Exactly this text.</summary>
    public static OutputConstraint Literal(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        return new LiteralConstraint(text);
    }

    /// <summary>Each part in turn (e.g. a literal prefix, a JSON value, a literal suffix).</summary>
    public static OutputConstraint Sequence(params OutputConstraint[] parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Length == 0)
            throw new ArgumentException("a sequence needs at least one part.", nameof(parts));
        return parts.Length == 1 ? parts[0] : new SequenceConstraint(parts);
    }

    /// <summary>
    /// One of the alternatives. Each must begin with a literal text (alone or as the first part of a
    /// <see cref="Sequence"/>), and those texts must tell the alternatives apart: none may be a prefix of another
    /// (e.g. <c>{"name": "get_weather", "arguments": </c> and <c>{"name": "get_time", "arguments": </c>).
    /// </summary>
    public static OutputConstraint Choice(params OutputConstraint[] alternatives)
    {
        ArgumentNullException.ThrowIfNull(alternatives);
        if (alternatives.Length == 0)
            throw new ArgumentException("a choice needs at least one alternative.", nameof(alternatives));
        return alternatives.Length == 1 ? alternatives[0] : new ChoiceConstraint(alternatives);
    }

    /// <summary>
    /// <paramref name="item"/> between <paramref name="min"/> and <paramref name="max"/> times, with
    /// <paramref name="separator"/> text between (e.g. several tool calls). After an item, a byte that can start
    /// another round (the separator's first, else the item's) continues the repetition: what follows it must start
    /// differently (end of output, or a closing text such as <c>]</c>).
    /// </summary>
    public static OutputConstraint Repeat(OutputConstraint item, int min = 1, int max = int.MaxValue, string? separator = null)
    {
        ArgumentNullException.ThrowIfNull(item);
        ArgumentOutOfRangeException.ThrowIfNegative(min);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, Math.Max(min, 1));
        if (separator is { Length: 0 })
            throw new ArgumentException("the separator must not be empty (leave it null for none).", nameof(separator));
        return new RepeatConstraint(item, min, max, separator);
    }

    /// <summary>
    /// Free text, in which writing <paramref name="trigger"/> starts <paramref name="item"/> (the rest of a tool call
    /// after its marker): the item is then constrained, and free text resumes after it. At most
    /// <paramref name="maxItems"/> items; after that the trigger cannot be written. With
    /// <paramref name="itemAtStart"/>, an item may also begin the text (after spaces) with its own first byte (Llama's
    /// bare call object). The text may end (EOS) anywhere outside an item. A lazy constraint: text stays free until the
    /// model starts a call, and every call it starts parses.
    /// </summary>
    public static OutputConstraint FreeText(string trigger, OutputConstraint item, int maxItems = 1, bool itemAtStart = false)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        ArgumentNullException.ThrowIfNull(item);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        if (trigger.Length == 0 && !itemAtStart)
            throw new ArgumentException("free text needs a trigger, or an item that may start it.", nameof(trigger));
        return new FreeTextConstraint(trigger, item, maxItems, itemAtStart);
    }

    /// <summary>A short description for messages and logs.</summary>
    public abstract override string ToString();

    /// <summary>The grammar, compiled once (and at construction, so that a bad schema fails where it is given).</summary>
    internal Grammar Grammar => _grammar ??= Compile();

    private protected void CompileNow() => _ = Grammar;

    private Grammar Compile()
    {
        var builder = new GrammarBuilder();
        return builder.Build(Emit(builder));
    }

    /// <summary>Adds this constraint's nodes; returns its root node.</summary>
    internal abstract int Emit(GrammarBuilder builder);

    /// <summary>Starts one sequence's matcher over <paramref name="tokenizer"/>'s vocabulary (its trie built once per tokenizer).</summary>
    public ConstraintMatcher Start(TextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var trie = TokenTrie.For(tokenizer);
        var cache = _masks.GetValue(trie, _ => new TokenMaskCache());
        cache.SpecialTokens ??= SpecialTokensIn(tokenizer);
        return new ConstraintMatcher(Grammar, trie, cache, tokenizer.Bytes.StripLeadingSpace);
    }

    /// <summary>
    /// The tokenizer's special tokens whose text this constraint's fixed texts contain (a tool call's marker such as
    /// Mistral's <c>[TOOL_CALLS]</c> or Llama's <c>&lt;|python_tag|&gt;</c>): a model writes those as the one special
    /// token, so the constraint allows it wherever its text may come. Other special tokens stay masked.
    /// </summary>
    private (int Id, byte[] Bytes)[] SpecialTokensIn(TextTokenizer tokenizer)
    {
        var texts = new List<string>();
        CollectTexts(texts);
        return tokenizer.AddedTokens
            .Where(a => a.Special && a.Content.Length > 0 && tokenizer.IsSpecialToken(a.Id) && (uint)a.Id < (uint)tokenizer.VocabSize
                        && texts.Any(t => t.Contains(a.Content, StringComparison.Ordinal)))
            .Select(a => (a.Id, System.Text.Encoding.UTF8.GetBytes(a.Content)))
            .ToArray();
    }

    /// <summary>Adds the fixed texts (literals, triggers) this constraint may write.</summary>
    private protected virtual void CollectTexts(List<string> texts)
    {
    }

    private sealed class JsonObjectConstraint : OutputConstraint
    {
        public JsonObjectConstraint() => CompileNow();
        internal override int Emit(GrammarBuilder builder) => builder.AnyObject;
        public override string ToString() => "a JSON object";
    }

    private sealed class JsonSchemaConstraint : OutputConstraint
    {
        private readonly JsonElement _schema;

        public JsonSchemaConstraint(JsonElement schema)
        {
            _schema = schema;
            CompileNow();
        }

        internal override int Emit(GrammarBuilder builder) => new JsonSchemaCompiler(builder, _schema).CompileRoot();
        public override string ToString() => "a JSON value valid against a schema";
    }

    internal sealed class LiteralConstraint : OutputConstraint
    {
        public LiteralConstraint(string text)
        {
            Text = text;
            CompileNow();
        }

        public string Text { get; }
        internal override int Emit(GrammarBuilder builder) => builder.LiteralsOf([Text]);
        private protected override void CollectTexts(List<string> texts) => texts.Add(Text);
        public override string ToString() => $"the text {JsonSerializer.Serialize(Text)}";
    }

    internal sealed class SequenceConstraint : OutputConstraint
    {
        public SequenceConstraint(OutputConstraint[] parts)
        {
            // Nested sequences are flattened, and adjacent literals joined, so a choice sees one leading text.
            var flat = new List<OutputConstraint>();
            foreach (var p in parts)
            {
                ArgumentNullException.ThrowIfNull(p, nameof(parts));
                foreach (var q in p is SequenceConstraint s ? s.Parts : [p])
                {
                    if (q is LiteralConstraint l && flat.Count > 0 && flat[^1] is LiteralConstraint prev)
                        flat[^1] = new LiteralConstraint(prev.Text + l.Text);
                    else
                        flat.Add(q);
                }
            }
            Parts = [.. flat];
            CompileNow();
        }

        public IReadOnlyList<OutputConstraint> Parts { get; }

        private protected override void CollectTexts(List<string> texts)
        {
            foreach (var p in Parts)
                p.CollectTexts(texts);
        }

        internal override int Emit(GrammarBuilder builder)
        {
            if (Parts.Count == 1)
                return Parts[0].Emit(builder);
            var nodes = Parts.Select(p => p.Emit(builder)).ToArray();
            return builder.Add(new GrammarNode { Kind = NodeKind.Sequence, Parts = nodes });
        }

        public override string ToString() => string.Join(", then ", Parts);
    }

    private sealed class RepeatConstraint : OutputConstraint
    {
        private readonly OutputConstraint _item;
        private readonly int _min, _max;
        private readonly string? _separator;

        public RepeatConstraint(OutputConstraint item, int min, int max, string? separator)
        {
            (_item, _min, _max, _separator) = (item, min, max, separator);
            CompileNow();
        }

        private protected override void CollectTexts(List<string> texts)
        {
            _item.CollectTexts(texts);
            if (_separator is not null)
                texts.Add(_separator);
        }

        internal override int Emit(GrammarBuilder builder)
        {
            int item = _item.Emit(builder);
            int separator = _separator is null ? -1 : builder.LiteralsOf([_separator]);
            var itemFirst = builder.FirstBytes(item);
            return builder.Add(new GrammarNode
            {
                Kind = NodeKind.Repeat, Item = item, Separator = separator, MinItems = _min, MaxItems = _max,
                ItemFirst = itemFirst, Continues = separator < 0 ? itemFirst : builder.FirstBytes(separator),
            });
        }

        public override string ToString() =>
            $"{_item} {_min} to {(_max == int.MaxValue ? "any number of" : _max.ToString(System.Globalization.CultureInfo.InvariantCulture))} times" +
            (_separator is null ? "" : $", separated by {JsonSerializer.Serialize(_separator)}");
    }

    private sealed class FreeTextConstraint : OutputConstraint
    {
        private readonly string _trigger;
        private readonly OutputConstraint _item;
        private readonly int _maxItems;
        private readonly bool _itemAtStart;

        public FreeTextConstraint(string trigger, OutputConstraint item, int maxItems, bool itemAtStart)
        {
            (_trigger, _item, _maxItems, _itemAtStart) = (trigger, item, maxItems, itemAtStart);
            CompileNow();
        }

        internal override int Emit(GrammarBuilder builder) =>
            builder.FreeText(Encoding.UTF8.GetBytes(_trigger), _item.Emit(builder), _maxItems, _itemAtStart);

        private protected override void CollectTexts(List<string> texts)
        {
            texts.Add(_trigger);
            _item.CollectTexts(texts);
        }

        public override string ToString() =>
            $"free text where {JsonSerializer.Serialize(_trigger)}{(_itemAtStart ? " (or the start)" : "")} begins {_item}, at most {_maxItems} times";
    }

    private sealed class ChoiceConstraint : OutputConstraint
    {
        private readonly OutputConstraint[] _alternatives;

        public ChoiceConstraint(OutputConstraint[] alternatives)
        {
            _alternatives = alternatives;
            foreach (var a in alternatives)
            {
                ArgumentNullException.ThrowIfNull(a, nameof(alternatives));
                if (LeadingText(a) is null)
                    throw new ArgumentException(
                        $"each alternative of a choice must begin with a literal text; {a} does not.", nameof(alternatives));
            }
            CompileNow();
        }

        private static string? LeadingText(OutputConstraint c) => c switch
        {
            LiteralConstraint l => l.Text,
            SequenceConstraint { Parts: [LiteralConstraint l, ..] } => l.Text,
            _ => null,
        };

        internal override int Emit(GrammarBuilder builder)
        {
            var trie = new LiteralTrie();
            foreach (var a in _alternatives)
            {
                string text = LeadingText(a)!;
                int next = LiteralTrie.End;
                if (a is SequenceConstraint s)
                {
                    var rest = s.Parts.Skip(1).ToArray();
                    next = rest.Length == 1 ? rest[0].Emit(builder) : new SequenceConstraint(rest).Emit(builder);
                }
                if (!trie.Add(Encoding.UTF8.GetBytes(text), next))
                    throw new ArgumentException($"two alternatives of a choice begin with the same text {JsonSerializer.Serialize(text)}.");
            }
            if (trie.HasPrefixLiteral())
                throw new ArgumentException(
                    "the leading texts of a choice's alternatives must not be prefixes of one another (the choice would be ambiguous).");
            return builder.Add(new GrammarNode { Kind = NodeKind.Literals, Trie = trie });
        }

        private protected override void CollectTexts(List<string> texts)
        {
            foreach (var a in _alternatives)
                a.CollectTexts(texts);
        }

        public override string ToString() => "one of: " + string.Join("; ", _alternatives.Select(a => a.ToString()));
    }
}
