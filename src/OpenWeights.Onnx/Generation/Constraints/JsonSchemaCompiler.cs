using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>
/// Turns a JSON Schema into grammar nodes. What it cannot enforce it refuses, naming the keyword and where it is:
/// a constraint that silently ignored <c>minimum</c> would let invalid documents through.
/// </summary>
internal sealed class JsonSchemaCompiler
{
    /// <summary>Keywords that only describe (or hold definitions): ignored.</summary>
    private static readonly HashSet<string> Annotations =
    [
        "$schema", "$id", "$comment", "$anchor", "$defs", "definitions", "title", "description", "default", "examples",
        "deprecated", "readOnly", "writeOnly", "format", "contentEncoding", "contentMediaType", "strict",
    ];

    /// <summary>Keywords this compiler enforces.</summary>
    private static readonly HashSet<string> Supported =
    [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
        "anyOf", "oneOf", "$ref",
    ];

    /// <summary>Assertions it cannot enforce (a schema naming one is refused; unknown keywords are ignored, as validators do).</summary>
    private static readonly HashSet<string> Unsupported =
    [
        "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "patternProperties", "propertyNames", "minProperties", "maxProperties", "dependentRequired", "dependentSchemas",
        "dependencies", "unevaluatedProperties", "unevaluatedItems", "prefixItems", "additionalItems", "contains",
        "minContains", "maxContains", "uniqueItems", "allOf", "not", "if", "then", "else", "$dynamicRef", "$recursiveRef",
    ];

    private static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly GrammarBuilder _b;
    private readonly JsonElement _root;
    private readonly Dictionary<string, int> _refs = [];
    private readonly HashSet<string> _resolving = [];

    public JsonSchemaCompiler(GrammarBuilder builder, JsonElement root)
    {
        _b = builder;
        _root = root;
    }

    public int CompileRoot() => Compile(_root, "#");

    private int Compile(JsonElement schema, string path)
    {
        switch (schema.ValueKind)
        {
            case JsonValueKind.True:
                return _b.AnyValue;
            case JsonValueKind.False:
                throw new JsonSchemaException(path, "the schema false accepts no value, so no document can be generated.");
            case JsonValueKind.Object:
                break;
            default:
                throw new JsonSchemaException(path, $"a schema must be an object or a boolean, not {Describe(schema)}.");
        }

        foreach (var p in schema.EnumerateObject())
        {
            if (Unsupported.Contains(p.Name) && !IsNeutral(p))
                throw new JsonSchemaException($"{path}/{p.Name}",
                    $"the keyword '{p.Name}' is not supported for constrained output (supported: {string.Join(", ", Supported)}).");
        }

        if (schema.TryGetProperty("$ref", out var reference))
        {
            if (schema.EnumerateObject().Any(p => p.Name != "$ref" && Supported.Contains(p.Name)))
                throw new JsonSchemaException(path, "other assertions beside '$ref' are not supported; put them in the referenced schema.");
            return CompileRef(reference, $"{path}/$ref");
        }

        if (schema.TryGetProperty("const", out var constant))
            return Literals(FilterByType(schema, [constant], path), $"{path}/const");
        if (schema.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
                throw new JsonSchemaException($"{path}/enum", "'enum' must be a non-empty array.");
            return Literals(FilterByType(schema, [.. values.EnumerateArray()], path), $"{path}/enum");
        }

        foreach (string combiner in (string[])["anyOf", "oneOf"])
        {
            if (!schema.TryGetProperty(combiner, out var alternatives))
                continue;
            if (alternatives.ValueKind != JsonValueKind.Array || alternatives.GetArrayLength() == 0)
                throw new JsonSchemaException($"{path}/{combiner}", $"'{combiner}' must be a non-empty array of schemas.");
            if (schema.EnumerateObject().Any(p => p.Name != combiner && Supported.Contains(p.Name)))
                throw new JsonSchemaException(path, $"other assertions beside '{combiner}' are not supported; put them in each alternative.");
            var nodes = alternatives.EnumerateArray().Select((a, i) => Compile(a, $"{path}/{combiner}/{i}")).ToList();
            return Union(nodes, $"{path}/{combiner}");
        }

        var types = Types(schema, path);
        if (types.Count == 0)
        {
            // No type: generate the kind the keywords describe (a valid choice: they apply only to that kind).
            if (schema.TryGetProperty("properties", out _) || schema.TryGetProperty("required", out _) ||
                schema.TryGetProperty("additionalProperties", out _))
                types.Add("object");
            else if (schema.TryGetProperty("items", out _) || schema.TryGetProperty("minItems", out _) ||
                     schema.TryGetProperty("maxItems", out _))
                types.Add("array");
            else
                return _b.AnyValue;
        }
        var typed = new List<int>();
        foreach (string type in types)
            typed.Add(type switch
            {
                "object" => Object(schema, path),
                "array" => Array(schema, path),
                "string" => _b.String,
                "number" => _b.Number,
                "integer" => _b.Integer,
                "boolean" => _b.Boolean,
                "null" => _b.Null,
                _ => throw new JsonSchemaException($"{path}/type", $"unknown type '{type}' (expected object, array, string, number, integer, boolean or null)."),
            });
        return typed.Count == 1 ? typed[0] : Union(typed, $"{path}/type");
    }

    /// <summary>Unsupported keywords whose value asserts nothing (uniqueItems: false) are harmless.</summary>
    private static bool IsNeutral(JsonProperty p) => p.Name == "uniqueItems" && p.Value.ValueKind == JsonValueKind.False;

    private static List<string> Types(JsonElement schema, string path)
    {
        if (!schema.TryGetProperty("type", out var type))
            return [];
        if (type.ValueKind == JsonValueKind.String)
            return [type.GetString()!];
        if (type.ValueKind == JsonValueKind.Array && type.GetArrayLength() > 0 &&
            type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String))
            return type.EnumerateArray().Select(t => t.GetString()!).Distinct().ToList();
        throw new JsonSchemaException($"{path}/type", "'type' must be a type name or a non-empty array of type names.");
    }

    private int CompileRef(JsonElement reference, string path)
    {
        if (reference.ValueKind != JsonValueKind.String || reference.GetString() is not { } target || !target.StartsWith('#'))
            throw new JsonSchemaException(path, "only local references ('#/$defs/Name') are supported.");
        if (_refs.TryGetValue(target, out int node))
            return node;
        if (!_resolving.Add(target))
            throw new JsonSchemaException(path, $"the reference '{target}' is recursive; recursive schemas are not supported.");
        var resolved = Resolve(target, path);
        node = Compile(resolved, target);
        _resolving.Remove(target);
        _refs[target] = node;
        return node;
    }

    private JsonElement Resolve(string target, string path)
    {
        var current = _root;
        foreach (string raw in target[1..].Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string token = Uri.UnescapeDataString(raw).Replace("~1", "/").Replace("~0", "~");
            if (current.ValueKind == JsonValueKind.Object && current.TryGetProperty(token, out var next))
                current = next;
            else if (current.ValueKind == JsonValueKind.Array && int.TryParse(token, out int i) && i >= 0 && i < current.GetArrayLength())
                current = current[i];
            else
                throw new JsonSchemaException(path, $"the reference '{target}' does not resolve within the schema.");
        }
        return current;
    }

    private int Object(JsonElement schema, string path)
    {
        var names = new List<string>();
        var nodes = new List<int>();
        if (schema.TryGetProperty("properties", out var properties))
        {
            if (properties.ValueKind != JsonValueKind.Object)
                throw new JsonSchemaException($"{path}/properties", "'properties' must be an object.");
            foreach (var p in properties.EnumerateObject())
            {
                names.Add(p.Name);
                nodes.Add(Compile(p.Value, $"{path}/properties/{Escape(p.Name)}"));
            }
        }
        if (names.Count > 64)
            throw new JsonSchemaException($"{path}/properties", $"{names.Count} properties; at most 64 are supported in one object.");

        ulong required = 0;
        if (schema.TryGetProperty("required", out var req))
        {
            if (req.ValueKind != JsonValueKind.Array || req.EnumerateArray().Any(r => r.ValueKind != JsonValueKind.String))
                throw new JsonSchemaException($"{path}/required", "'required' must be an array of property names.");
            foreach (var r in req.EnumerateArray())
            {
                int i = names.IndexOf(r.GetString()!);
                if (i < 0)
                    throw new JsonSchemaException($"{path}/required",
                        $"the required property '{r.GetString()}' is not listed in 'properties'; list it there with its schema.");
                required |= 1UL << i;
            }
        }

        int additional = _b.AnyValue;
        if (schema.TryGetProperty("additionalProperties", out var extra))
            additional = extra.ValueKind == JsonValueKind.False ? -1 : Compile(extra, $"{path}/additionalProperties");

        var keys = new LiteralTrie();
        for (int i = 0; i < names.Count; i++)
        {
            byte[] key = Encoding.UTF8.GetBytes(JsonEncodedText.Encode(names[i], JavaScriptEncoder.UnsafeRelaxedJsonEscaping).Value + "\"");
            keys.Add(key, i, bit: i);
        }
        return _b.Add(new GrammarNode
        {
            Kind = NodeKind.Object,
            Keys = keys,
            PropertyNames = [.. names],
            PropertyNodes = [.. nodes],
            RequiredMask = required,
            AllMask = names.Count == 64 ? ulong.MaxValue : (1UL << names.Count) - 1,
            Additional = additional,
            KeyEscapes = false,
        });
    }

    private int Array(JsonElement schema, string path)
    {
        int item = _b.AnyValue;
        int max = int.MaxValue;
        if (schema.TryGetProperty("items", out var items))
        {
            if (items.ValueKind == JsonValueKind.False)
                max = 0;
            else
                item = Compile(items, $"{path}/items");
        }
        int min = Count(schema, "minItems", path) ?? 0;
        max = Math.Min(max, Count(schema, "maxItems", path) ?? int.MaxValue);
        if (min > max)
            throw new JsonSchemaException(path, $"minItems {min} is above maxItems {max}: no array fits.");
        return _b.Add(new GrammarNode { Kind = NodeKind.Array, Item = item, MinItems = min, MaxItems = max });
    }

    private static int? Count(JsonElement schema, string keyword, string path)
    {
        if (!schema.TryGetProperty(keyword, out var v))
            return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) && n >= 0)
            return (int)Math.Min(n, int.MaxValue);
        throw new JsonSchemaException($"{path}/{keyword}", $"'{keyword}' must be a non-negative integer.");
    }

    private static List<JsonElement> FilterByType(JsonElement schema, List<JsonElement> values, string path)
    {
        var types = Types(schema, path);
        if (types.Count == 0)
            return values;
        var kept = values.Where(v => types.Any(t => Is(v, t))).ToList();
        if (kept.Count == 0)
            throw new JsonSchemaException(path, "no value of 'enum'/'const' has the schema's 'type': nothing can be generated.");
        return kept;
    }

    private static bool Is(JsonElement v, string type) => type switch
    {
        "object" => v.ValueKind == JsonValueKind.Object,
        "array" => v.ValueKind == JsonValueKind.Array,
        "string" => v.ValueKind == JsonValueKind.String,
        "number" => v.ValueKind == JsonValueKind.Number,
        "integer" => v.ValueKind == JsonValueKind.Number && v.TryGetDecimal(out decimal d) && d == decimal.Truncate(d),
        "boolean" => v.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => v.ValueKind == JsonValueKind.Null,
        _ => false,
    };

    private int Literals(List<JsonElement> values, string path)
    {
        var trie = new LiteralTrie();
        foreach (var v in values)
            trie.Add(CompactJson(v), LiteralTrie.End);
        return _b.Add(new GrammarNode { Kind = NodeKind.Literals, Trie = trie });
    }

    private static byte[] CompactJson(JsonElement v)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, Compact))
            v.WriteTo(writer);
        return stream.ToArray();
    }

    /// <summary>
    /// Alternatives told apart by their first byte. A number and an integer overlap entirely; the number stays. Any
    /// other overlap (two objects, a string and a string enum) is refused: the grammar is deterministic.
    /// </summary>
    private int Union(List<int> alternatives, string path)
    {
        if (alternatives.Contains(_b.AnyValue))
            return _b.AnyValue;
        if (alternatives.Contains(_b.Number))
            alternatives.RemoveAll(a => a == _b.Integer);
        alternatives = alternatives.Distinct().ToList();
        if (alternatives.Count == 1)
            return alternatives[0];
        var dispatch = new int[256];
        System.Array.Fill(dispatch, -1);
        var owner = new int[256];
        for (int i = 0; i < alternatives.Count; i++)
        {
            bool[] first = _b.FirstBytes(alternatives[i]);
            for (int b = 0; b < 256; b++)
            {
                if (!first[b])
                    continue;
                if (dispatch[b] >= 0)
                    throw new JsonSchemaException(path,
                        $"alternatives {owner[b]} and {i} can both start with '{(char)b}'; only alternatives that start differently " +
                        "(different types: object, array, string, number, boolean, null) are supported.");
                dispatch[b] = alternatives[i];
                owner[b] = i;
            }
        }
        return _b.Add(new GrammarNode { Kind = NodeKind.Union, Dispatch = dispatch });
    }

    private static string Escape(string name) => name.Replace("~", "~0").Replace("/", "~1");

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };
}
