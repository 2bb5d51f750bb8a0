namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>What a grammar node matches; <see cref="ByteMatcher"/> gives each kind its phases.</summary>
internal enum NodeKind
{
    /// <summary>Any JSON value (nesting bounded by <see cref="Grammar.AnyDepthLimit"/>).</summary>
    AnyValue,
    /// <summary>A JSON object: schema properties (a key trie), required ones, and what other keys may hold.</summary>
    Object,
    /// <summary>A JSON array of one item grammar, with a minimum and maximum count.</summary>
    Array,
    /// <summary>Any JSON string.</summary>
    String,
    /// <summary>A JSON number (bounded digit counts).</summary>
    Number,
    /// <summary>A JSON integer: a number without fraction or exponent.</summary>
    Integer,
    /// <summary>One of a set of literal texts, each followed by nothing or by a grammar node.</summary>
    Literals,
    /// <summary>One of several grammars, told apart by their first byte.</summary>
    Union,
    /// <summary>Grammars one after another.</summary>
    Sequence,
    /// <summary>One grammar several times (Item, MinItems, MaxItems), with an optional separator grammar between.</summary>
    Repeat,
    /// <summary>
    /// Free text in which a trigger text (a tool call's marker) starts an Item, at most MaxItems times; after the
    /// item, free text again. With ItemAtStart, an item may also begin the text (after spaces) with its own first byte.
    /// </summary>
    FreeText,
}

internal sealed class GrammarNode
{
    public NodeKind Kind;

    // Object
    public LiteralTrie? Keys;              // property names as their JSON text after the opening quote, closing quote included
    public int[] PropertyNodes = [];
    public string[] PropertyNames = [];
    public ulong RequiredMask;
    public ulong AllMask;
    public int Additional = -1;            // node of values under other keys; -1: no other keys
    public bool KeyEscapes;                // other keys may contain escapes (json_object); schema objects' may not

    // Array
    public int Item = -1;
    public int MinItems;
    public int MaxItems = int.MaxValue;

    // Literals
    public LiteralTrie? Trie;

    // Union
    public int[]? Dispatch;                // first byte → node, -1: no alternative starts with it

    // Sequence
    public int[] Parts = [];

    // Repeat (also Item, MinItems, MaxItems)
    public int Separator = -1;
    public bool[]? Continues;              // first bytes that start another round (the separator's, else the item's)
    public bool[]? ItemFirst;              // first bytes of the item (Repeat; FreeText with ItemAtStart)

    // FreeText (also Item, MaxItems)
    public byte[] Trigger = [];
    public int[]? TriggerNext;             // [matched * 256 + byte] → matched after the byte (a KMP automaton)
    public bool ItemAtStart;
}

/// <summary>
/// A compiled output grammar: nodes addressed by index, the root, and the shared nodes for plain JSON values. Built
/// once per <see cref="OutputConstraint"/>, independent of any tokenizer; immutable afterwards.
/// </summary>
internal sealed class Grammar
{
    /// <summary>Frames a state may hold; deeper nesting is refused (a dead branch, never a wrong document).</summary>
    public const int MaxFrames = 256;

    /// <summary>Free JSON values (json_object, or a schema's untyped parts) open no container at or beyond this depth.</summary>
    public const int AnyDepthLimit = 40;

    /// <summary>Digits allowed in a number's integer part, its fraction and its exponent.</summary>
    public const int MaxIntegerDigits = 16, MaxFractionDigits = 16, MaxExponentDigits = 2;

    public Grammar(GrammarNode[] nodes, int root)
    {
        Nodes = nodes;
        Root = root;
    }

    public GrammarNode[] Nodes { get; }
    public int Root { get; }
}

/// <summary>Collects grammar nodes; the shared plain-JSON nodes are created first so every grammar has them.</summary>
internal sealed class GrammarBuilder
{
    private readonly List<GrammarNode> _nodes = [];

    public GrammarBuilder()
    {
        AnyValue = Add(new GrammarNode { Kind = NodeKind.AnyValue });
        String = Add(new GrammarNode { Kind = NodeKind.String });
        Number = Add(new GrammarNode { Kind = NodeKind.Number });
        Integer = Add(new GrammarNode { Kind = NodeKind.Integer });
        True = LiteralsOf(["true"]);
        False = LiteralsOf(["false"]);
        Boolean = LiteralsOf(["true", "false"]);
        Null = LiteralsOf(["null"]);
        TrueFalseNull = LiteralsOf(["true", "false", "null"]);
        AnyObject = Add(new GrammarNode { Kind = NodeKind.Object, Keys = new LiteralTrie(), Additional = AnyValue, KeyEscapes = true });
        AnyArray = Add(new GrammarNode { Kind = NodeKind.Array, Item = AnyValue });
    }

    public int AnyValue { get; }
    public int AnyObject { get; }
    public int AnyArray { get; }
    public int String { get; }
    public int Number { get; }
    public int Integer { get; }
    public int True { get; }
    public int False { get; }
    public int Boolean { get; }
    public int Null { get; }
    public int TrueFalseNull { get; }

    public GrammarNode this[int node] => _nodes[node];

    public int Add(GrammarNode node)
    {
        _nodes.Add(node);
        return _nodes.Count - 1;
    }

    public int LiteralsOf(IEnumerable<string> texts)
    {
        var trie = new LiteralTrie();
        foreach (string t in texts)
            trie.Add(System.Text.Encoding.UTF8.GetBytes(t), LiteralTrie.End);
        return Add(new GrammarNode { Kind = NodeKind.Literals, Trie = trie });
    }

    /// <summary>The first bytes a node can start with (for telling union alternatives apart).</summary>
    public bool[] FirstBytes(int node)
    {
        var set = new bool[256];
        var n = _nodes[node];
        switch (n.Kind)
        {
            case NodeKind.AnyValue:
                foreach (char c in "{[\"-0123456789tfn")
                    set[c] = true;
                break;
            case NodeKind.Object: set['{'] = true; break;
            case NodeKind.Array: set['['] = true; break;
            case NodeKind.String: set['"'] = true; break;
            case NodeKind.Number:
            case NodeKind.Integer:
                foreach (char c in "-0123456789")
                    set[c] = true;
                break;
            case NodeKind.Literals:
                foreach (byte b in n.Trie!.FirstBytes())
                    set[b] = true;
                break;
            case NodeKind.Union:
                for (int b = 0; b < 256; b++)
                    set[b] = n.Dispatch![b] >= 0;
                break;
            case NodeKind.Sequence:
                return FirstBytes(n.Parts[0]);
            case NodeKind.Repeat:
                return FirstBytes(n.Item);
            case NodeKind.FreeText:
                Array.Fill(set, true);
                break;
        }
        return set;
    }

    /// <summary>Free text whose <paramref name="trigger"/> starts <paramref name="item"/> (see <see cref="NodeKind.FreeText"/>).</summary>
    public int FreeText(byte[] trigger, int item, int maxItems, bool itemAtStart)
    {
        // KMP automaton: after the bytes so far matched `k` of the trigger, a byte leads to the new longest match.
        int m = trigger.Length;
        var next = new int[Math.Max(m, 1) * 256];
        if (m > 0)
        {
            next[trigger[0]] = 1;
            for (int k = 1, fallback = 0; k < m; k++)
            {
                Array.Copy(next, fallback * 256, next, k * 256, 256);
                next[k * 256 + trigger[k]] = k + 1;
                fallback = next[fallback * 256 + trigger[k]];
            }
        }
        return Add(new GrammarNode
        {
            Kind = NodeKind.FreeText, Trigger = trigger, TriggerNext = next, Item = item, MaxItems = maxItems,
            ItemAtStart = itemAtStart, ItemFirst = itemAtStart ? FirstBytes(item) : null,
        });
    }

    public Grammar Build(int root) => new([.. _nodes], root);
}
