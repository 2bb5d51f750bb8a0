using System.Runtime.CompilerServices;

namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>
/// Advances a <see cref="ParserState"/> of a <see cref="Grammar"/> by one byte: a deterministic pushdown automaton
/// whose stack frames are grammar nodes. JSON whitespace is bounded so a model cannot stall in it: none anywhere
/// except at most one space after a <c>:</c> or a <c>,</c>.
/// </summary>
/// <remarks>
/// Phases by kind. Object: 0 before <c>{</c>, 1 after it, 2 in a key (A = key-trie node, -1 once the key is not a
/// property's; B = string lexer), 3 before <c>:</c> (A = property index or -1), 4 after <c>:</c>, 5 before the value,
/// 6 after a value, 7 after <c>,</c>, 8 after <c>, </c>; Seen = properties written. Array: 0 before <c>[</c>, 1 after
/// it, 2 after an item, 3 after <c>,</c>, 4 after <c>, </c>; A = items (clamped where the bounds stop caring).
/// String: 0 before the quote, 1 inside (A = lexer). Number: see <see cref="StepNumber"/>. Literals: A = trie node.
/// Sequence: Phase = next part.
/// </remarks>
internal sealed class ByteMatcher
{
    private readonly GrammarNode[] _nodes;
    private readonly FrameArena _arena;

    private enum Step { Consumed, Reject, Retry }

    public ByteMatcher(Grammar grammar, FrameArena arena)
    {
        _nodes = grammar.Nodes;
        _arena = arena;
    }

    public FrameArena Arena => _arena;

    /// <summary>Feeds one byte; false (state then undefined) when no document continues with it.</summary>
    public bool Advance(ref ParserState s, byte b)
    {
        while (s.Depth > 0)
        {
            switch (StepTop(ref s, b))
            {
                case Step.Consumed: return true;
                case Step.Reject: return false;
            }
        }
        return false; // the document is complete: nothing may follow
    }

    /// <summary>
    /// Whether the text so far is a whole document (it may still go on, as a number may): every open frame may end
    /// where it is (a repetition after enough items inside free text, say).
    /// </summary>
    public bool CanEnd(in ParserState s)
    {
        if (s.Depth == 0)
            return true;
        if (!AcceptsEnd(s.Top))
            return false;
        for (int i = s.Below; i >= 0; i = _arena.BelowOf(i))
            if (!AcceptsEnd(_arena[i]))
                return false;
        return true;
    }

    /// <summary>Whether any byte continues the document.</summary>
    public bool CanContinue(in ParserState s)
    {
        if (s.Depth == 0)
            return false;
        int mark = _arena.Length;
        try
        {
            for (int b = 0; b < 256; b++)
            {
                var copy = s;
                if (Advance(ref copy, (byte)b))
                    return true;
            }
            return false;
        }
        finally
        {
            _arena.Truncate(mark);
        }
    }

    /// <summary>The bytes that continue the document (for describing a dead end; allocates).</summary>
    public List<byte> AllowedBytes(in ParserState s)
    {
        var allowed = new List<byte>();
        if (s.Depth == 0)
            return allowed;
        int mark = _arena.Length;
        for (int b = 0; b < 256; b++)
        {
            var copy = s;
            if (Advance(ref copy, (byte)b))
                allowed.Add((byte)b);
            _arena.Truncate(mark);
        }
        return allowed;
    }

    /// <summary>What the innermost open part of the document is, in words (for messages).</summary>
    public string Describe(in ParserState s)
    {
        if (s.Depth == 0)
            return "the complete document";
        var f = s.Top;
        var n = _nodes[f.Node];
        return n.Kind switch
        {
            NodeKind.Object when f.Phase == 2 => "an object's property name",
            NodeKind.Object when f.Phase is 0 or 1 => "an object",
            NodeKind.Object => "an object (between its members)",
            NodeKind.Array => "an array",
            NodeKind.String => "a JSON string",
            NodeKind.Number or NodeKind.Integer => "a JSON number",
            NodeKind.Literals => "a fixed text (a literal, an enum or const value, or a tool call's wrapper)",
            NodeKind.Repeat => "a repetition (e.g. of tool calls)",
            NodeKind.FreeText => "free text",
            _ => "a JSON value",
        };
    }

    private bool AcceptsEnd(in Frame f)
    {
        var n = _nodes[f.Node];
        return n.Kind switch
        {
            NodeKind.Number or NodeKind.Integer => f.Phase is 2 or 3 or 5 or 8,
            NodeKind.Literals => f.A != 0 && n.Trie!.IsTerminal(f.A) && n.Trie.ValueOf(f.A) == LiteralTrie.End,
            NodeKind.Repeat => (f.Phase == 1 && f.A >= n.MinItems) || (f.Phase == 0 && n.MinItems == 0),
            NodeKind.FreeText => true,
            _ => false,
        };
    }

    private Step StepTop(ref ParserState s, byte b)
    {
        var n = _nodes[s.Top.Node];
        switch (n.Kind)
        {
            case NodeKind.AnyValue: return StepAny(ref s, b);
            case NodeKind.Object: return StepObject(ref s, n, b);
            case NodeKind.Array: return StepArray(ref s, n, b);
            case NodeKind.String: return StepString(ref s, b);
            case NodeKind.Number: return StepNumber(ref s, b, integer: false);
            case NodeKind.Integer: return StepNumber(ref s, b, integer: true);
            case NodeKind.Literals: return StepLiterals(ref s, n, b);
            case NodeKind.Union:
            {
                int alternative = n.Dispatch![b];
                if (alternative < 0)
                    return Step.Reject;
                s.Top = new Frame(alternative);
                return Step.Retry;
            }
            case NodeKind.Repeat:
                return StepRepeat(ref s, n, b);
            case NodeKind.FreeText:
                return StepFreeText(ref s, n, b);
            case NodeKind.Sequence:
            {
                int part = s.Top.Phase;
                if (part == n.Parts.Length - 1)
                {
                    s.Top = new Frame(n.Parts[part]); // the last part takes the sequence's place
                    return Step.Retry;
                }
                s.Top.Phase = part + 1;
                return Push(ref s, n.Parts[part]) ? Step.Retry : Step.Reject;
            }
            default:
                return Step.Reject;
        }
    }

    // The grammar builder creates the plain-JSON nodes first, in this order (GrammarBuilder's constructor).
    private const int AnyObjectNode = 9, AnyArrayNode = 10, StringNode = 1, NumberNode = 2, TrueFalseNullNode = 8;

    private Step StepAny(ref ParserState s, byte b)
    {
        switch (b)
        {
            case (byte)'{':
                if (s.Depth >= Grammar.AnyDepthLimit)
                    return Step.Reject;
                s.Top = new Frame(AnyObjectNode);
                return Step.Retry;
            case (byte)'[':
                if (s.Depth >= Grammar.AnyDepthLimit)
                    return Step.Reject;
                s.Top = new Frame(AnyArrayNode);
                return Step.Retry;
            case (byte)'"':
                s.Top = new Frame(StringNode);
                return Step.Retry;
            case (byte)'-' or >= (byte)'0' and <= (byte)'9':
                s.Top = new Frame(NumberNode);
                return Step.Retry;
            case (byte)'t' or (byte)'f' or (byte)'n':
                s.Top = new Frame(TrueFalseNullNode);
                return Step.Retry;
            default:
                return Step.Reject;
        }
    }

    private Step StepObject(ref ParserState s, GrammarNode n, byte b)
    {
        ref Frame f = ref s.Top;
        switch (f.Phase)
        {
            case 0:
                if (b != (byte)'{')
                    return Step.Reject;
                f.Phase = 1;
                return Step.Consumed;
            case 1:
                if (b == (byte)'}')
                    return n.RequiredMask == 0 ? PopConsumed(ref s) : Step.Reject;
                return b == (byte)'"' && KeyPossible(n, f.Seen) ? StartKey(ref f) : Step.Reject;
            case 2:
                return StepKey(ref f, n, b);
            case 3:
                if (b != (byte)':')
                    return Step.Reject;
                f.Phase = 4;
                return Step.Consumed;
            case 4:
                if (b == (byte)' ')
                {
                    f.Phase = 5;
                    return Step.Consumed;
                }
                goto case 5;
            case 5:
            {
                int value;
                if (f.A >= 0)
                {
                    f.Seen |= 1UL << f.A;
                    value = n.PropertyNodes[f.A];
                }
                else
                {
                    value = n.Additional;
                }
                f.Phase = 6;
                f.A = 0;
                f.B = 0;
                return Push(ref s, value) ? Step.Retry : Step.Reject;
            }
            case 6:
                if (b == (byte)',')
                {
                    if (!KeyPossible(n, f.Seen))
                        return Step.Reject;
                    f.Phase = 7;
                    return Step.Consumed;
                }
                if (b == (byte)'}')
                    return (n.RequiredMask & ~f.Seen) == 0 ? PopConsumed(ref s) : Step.Reject;
                return Step.Reject;
            case 7:
                if (b == (byte)' ')
                {
                    f.Phase = 8;
                    return Step.Consumed;
                }
                return b == (byte)'"' ? StartKey(ref f) : Step.Reject;
            case 8:
                return b == (byte)'"' ? StartKey(ref f) : Step.Reject;
            default:
                return Step.Reject;
        }
    }

    private static bool KeyPossible(GrammarNode n, ulong seen) => n.Additional >= 0 || (n.AllMask & ~seen) != 0;

    private static Step StartKey(ref Frame f)
    {
        f.Phase = 2;
        f.A = 0;
        f.B = JsonStringLexer.Normal;
        return Step.Consumed;
    }

    private static Step StepKey(ref Frame f, GrammarNode n, byte b)
    {
        var keys = n.Keys!;
        if (f.A >= 0)
        {
            // Still spelling a property's name: follow the trie while it leads to a property not yet written (or,
            // when other keys are allowed, to any property, so that a written one is never spelled again as "other").
            int child = keys.Child(f.A, b);
            if (child >= 0)
            {
                if (keys.IsTerminal(child))
                {
                    int property = keys.ValueOf(child);
                    if ((f.Seen & (1UL << property)) != 0)
                        return Step.Reject; // a duplicate key
                    f.Phase = 3;
                    f.A = property;
                    return Step.Consumed;
                }
                if (n.Additional >= 0 || (keys.SubtreeValues(child) & ~f.Seen) != 0)
                {
                    if (JsonStringLexer.Step(ref f.B, b, escapes: true) != JsonStringLexer.Result.Continue)
                        return Step.Reject;
                    f.A = child;
                    return Step.Consumed;
                }
                return Step.Reject;
            }
            if (n.Additional < 0)
                return Step.Reject;
            f.A = -1; // from here on an other key
        }
        switch (JsonStringLexer.Step(ref f.B, b, n.KeyEscapes))
        {
            case JsonStringLexer.Result.Continue:
                return Step.Consumed;
            case JsonStringLexer.Result.Close:
                f.Phase = 3;
                f.A = -1;
                return Step.Consumed;
            default:
                return Step.Reject;
        }
    }

    private Step StepArray(ref ParserState s, GrammarNode n, byte b)
    {
        ref Frame f = ref s.Top;
        switch (f.Phase)
        {
            case 0:
                if (b != (byte)'[')
                    return Step.Reject;
                f.Phase = 1;
                return Step.Consumed;
            case 1:
                if (b == (byte)']')
                    return n.MinItems == 0 ? PopConsumed(ref s) : Step.Reject;
                return n.MaxItems > 0 ? StartItem(ref s, n) : Step.Reject;
            case 2:
                if (b == (byte)',')
                {
                    if (f.A >= n.MaxItems)
                        return Step.Reject;
                    f.Phase = 3;
                    return Step.Consumed;
                }
                if (b == (byte)']')
                    return f.A >= n.MinItems ? PopConsumed(ref s) : Step.Reject;
                return Step.Reject;
            case 3:
                if (b == (byte)' ')
                {
                    f.Phase = 4;
                    return Step.Consumed;
                }
                return StartItem(ref s, n);
            case 4:
                return StartItem(ref s, n);
            default:
                return Step.Reject;
        }
    }

    private Step StartItem(ref ParserState s, GrammarNode n)
    {
        ref Frame f = ref s.Top;
        // The count matters only up to the larger bound: clamping it lets states that differ beyond it share masks.
        int cap = n.MaxItems == int.MaxValue ? n.MinItems : n.MaxItems;
        f.A = Math.Min(f.A + 1, cap);
        f.Phase = 2;
        return Push(ref s, n.Item) ? Step.Retry : Step.Reject;
    }

    /// <summary>
    /// Phases: 0 before the first item, 1 after an item (A = items, clamped), 2 after a separator. After an item, a
    /// byte that starts another round (the separator's first, else the item's) continues while the maximum allows;
    /// any other ends the repetition once the minimum is met, and belongs to what follows.
    /// </summary>
    private Step StepRepeat(ref ParserState s, GrammarNode n, byte b)
    {
        ref Frame f = ref s.Top;
        switch (f.Phase)
        {
            case 0:
                if (n.MinItems == 0 && !n.ItemFirst![b])
                    return PopRetry(ref s);
                return NextItem(ref s, n);
            case 1:
                if (f.A < n.MaxItems && n.Continues![b])
                {
                    if (n.Separator < 0)
                        return NextItem(ref s, n);
                    f.Phase = 2;
                    return Push(ref s, n.Separator) ? Step.Retry : Step.Reject;
                }
                return f.A >= n.MinItems ? PopRetry(ref s) : Step.Reject;
            case 2:
                return NextItem(ref s, n);
            default:
                return Step.Reject;
        }
    }

    /// <summary>Whether the state is in free text (a <see cref="NodeKind.FreeText"/> frame on top, no item open).</summary>
    public bool InFreeText(in ParserState s) => s.Depth == 1 && _nodes[s.Top.Node].Kind == NodeKind.FreeText;

    /// <summary>
    /// Phases: 0 at the start (only spaces so far), 1 in text. A = bytes of the trigger matched, B = items started
    /// (each pushes the item; when it pops, text resumes). Once MaxItems items are written, the byte that would
    /// complete the trigger is refused.
    /// </summary>
    private Step StepFreeText(ref ParserState s, GrammarNode n, byte b)
    {
        ref Frame f = ref s.Top;
        if (f.Phase == 0 && n.ItemAtStart)
        {
            if (b is (byte)' ' or (byte)'\n' or (byte)'\t' or (byte)'\r')
                return Step.Consumed;
            if (n.ItemFirst![b] && f.B < n.MaxItems)
            {
                f.Phase = 1;
                f.B++;
                return Push(ref s, n.Item) ? Step.Retry : Step.Reject;
            }
        }
        f.Phase = 1;
        if (n.Trigger.Length == 0)
            return Step.Consumed;
        int matched = n.TriggerNext![f.A * 256 + b];
        if (matched < n.Trigger.Length)
        {
            f.A = matched;
            return Step.Consumed;
        }
        if (f.B >= n.MaxItems)
            return Step.Reject;
        f.A = 0;
        f.B++;
        return Push(ref s, n.Item) ? Step.Consumed : Step.Reject;
    }

    private Step NextItem(ref ParserState s, GrammarNode n)
    {
        ref Frame f = ref s.Top;
        int cap = n.MaxItems == int.MaxValue ? n.MinItems : n.MaxItems;
        f.A = Math.Min(f.A + 1, cap);
        f.Phase = 1;
        return Push(ref s, n.Item) ? Step.Retry : Step.Reject;
    }

    private Step StepString(ref ParserState s, byte b)
    {
        ref Frame f = ref s.Top;
        if (f.Phase == 0)
        {
            if (b != (byte)'"')
                return Step.Reject;
            f.Phase = 1;
            f.A = JsonStringLexer.Normal;
            return Step.Consumed;
        }
        return JsonStringLexer.Step(ref f.A, b, escapes: true) switch
        {
            JsonStringLexer.Result.Continue => Step.Consumed,
            JsonStringLexer.Result.Close => PopConsumed(ref s),
            _ => Step.Reject,
        };
    }

    /// <summary>
    /// Phases: 0 start, 1 after '-', 2 integer digits (A = count), 3 after a leading 0, 4 after '.', 5 fraction digits,
    /// 6 after 'e', 7 after the exponent's sign, 8 exponent digits. 2, 3, 5 and 8 may end the number: another byte
    /// then belongs to what encloses it.
    /// </summary>
    private Step StepNumber(ref ParserState s, byte b, bool integer)
    {
        ref Frame f = ref s.Top;
        bool digit = b is >= (byte)'0' and <= (byte)'9';
        switch (f.Phase)
        {
            case 0:
                if (b == (byte)'-')
                    return Go(ref f, 1, 0);
                goto case 1;
            case 1:
                if (b == (byte)'0')
                    return Go(ref f, 3, 0);
                return digit ? Go(ref f, 2, 1) : Step.Reject;
            case 2:
                if (digit)
                    return f.A < Grammar.MaxIntegerDigits ? Go(ref f, 2, f.A + 1) : Step.Reject;
                goto case 3;
            case 3:
                if (!integer && b == (byte)'.')
                    return Go(ref f, 4, 0);
                if (!integer && b is (byte)'e' or (byte)'E')
                    return Go(ref f, 6, 0);
                return PopRetry(ref s);
            case 4:
                return digit ? Go(ref f, 5, 1) : Step.Reject;
            case 5:
                if (digit)
                    return f.A < Grammar.MaxFractionDigits ? Go(ref f, 5, f.A + 1) : Step.Reject;
                if (b is (byte)'e' or (byte)'E')
                    return Go(ref f, 6, 0);
                return PopRetry(ref s);
            case 6:
                if (b is (byte)'+' or (byte)'-')
                    return Go(ref f, 7, 0);
                goto case 7;
            case 7:
                return digit ? Go(ref f, 8, 1) : Step.Reject;
            case 8:
                if (digit)
                    return f.A < Grammar.MaxExponentDigits ? Go(ref f, 8, f.A + 1) : Step.Reject;
                return PopRetry(ref s);
            default:
                return Step.Reject;
        }
    }

    private Step StepLiterals(ref ParserState s, GrammarNode n, byte b)
    {
        var trie = n.Trie!;
        ref Frame f = ref s.Top;
        int child = trie.Child(f.A, b);
        if (child < 0)
        {
            // A literal that is a prefix of another (enum [1, 12]) ended here: the byte belongs to what follows.
            if (f.A != 0 && trie.IsTerminal(f.A) && trie.ValueOf(f.A) == LiteralTrie.End)
                return PopRetry(ref s);
            return Step.Reject;
        }
        f.A = child;
        if (trie.IsTerminal(child) && !trie.HasChildren(child))
        {
            int next = trie.ValueOf(child);
            if (next == LiteralTrie.End)
                return PopConsumed(ref s);
            s.Top = new Frame(next); // what follows this alternative's text takes its place
        }
        return Step.Consumed;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Step Go(ref Frame f, int phase, int a)
    {
        f.Phase = phase;
        f.A = a;
        return Step.Consumed;
    }

    private bool Push(ref ParserState s, int node)
    {
        if (s.Depth >= Grammar.MaxFrames)
            return false;
        s.Below = _arena.Push(s.Top, s.Below);
        s.Top = new Frame(node);
        s.Depth++;
        return true;
    }

    private void Pop(ref ParserState s)
    {
        if (s.Depth == 1)
        {
            s.Depth = 0;
            return;
        }
        int below = s.Below;
        s.Top = _arena[below];
        s.Below = _arena.BelowOf(below);
        s.Depth--;
    }

    private Step PopConsumed(ref ParserState s)
    {
        Pop(ref s);
        return Step.Consumed;
    }

    private Step PopRetry(ref ParserState s)
    {
        Pop(ref s);
        return Step.Retry;
    }
}
