namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>
/// A small byte trie of literal texts (enum values, <c>true</c>/<c>false</c>/<c>null</c>, property names, the
/// leading texts of a choice). Node 0 is the root. Each terminal node carries a value: what follows the literal (a
/// grammar node, or <see cref="End"/> when the literal completes the value) or, for property names, the property's
/// index. <see cref="SubtreeValues"/> is a bit set of the terminal values below each node (for property names: which
/// properties a key still can become).
/// </summary>
internal sealed class LiteralTrie
{
    /// <summary>Terminal value meaning: the literal completes the value (nothing follows).</summary>
    public const int End = -1;
    private const int NotTerminal = int.MinValue;

    private readonly List<byte> _label = [0];
    private readonly List<int> _firstChild = [-1];
    private readonly List<int> _nextSibling = [-1];
    private readonly List<int> _value = [NotTerminal];
    private readonly List<ulong> _subtree = [0];

    public int Count => _label.Count;

    /// <summary>Adds a literal; returns false when the same bytes were already added.</summary>
    public bool Add(ReadOnlySpan<byte> bytes, int value, int bit = -1)
    {
        int node = 0;
        if (bit is >= 0 and < 64)
            _subtree[0] |= 1UL << bit;
        foreach (byte b in bytes)
        {
            int child = Child(node, b);
            if (child < 0)
            {
                child = _label.Count;
                _label.Add(b);
                _firstChild.Add(-1);
                _nextSibling.Add(_firstChild[node]);
                _value.Add(NotTerminal);
                _subtree.Add(0);
                _firstChild[node] = child;
            }
            node = child;
            if (bit is >= 0 and < 64)
                _subtree[node] |= 1UL << bit;
        }
        if (_value[node] != NotTerminal)
            return false;
        _value[node] = value;
        return true;
    }

    public int Child(int node, byte b)
    {
        for (int c = _firstChild[node]; c >= 0; c = _nextSibling[c])
            if (_label[c] == b)
                return c;
        return -1;
    }

    public bool IsTerminal(int node) => _value[node] != NotTerminal;

    public bool HasChildren(int node) => _firstChild[node] >= 0;

    /// <summary>The terminal value of a node (check <see cref="IsTerminal"/> first).</summary>
    public int ValueOf(int node) => _value[node];

    public ulong SubtreeValues(int node) => _subtree[node];

    /// <summary>The first bytes the literals can start with.</summary>
    public IEnumerable<byte> FirstBytes()
    {
        for (int c = _firstChild[0]; c >= 0; c = _nextSibling[c])
            yield return _label[c];
    }

    /// <summary>A node that is terminal and has children: one literal is a proper prefix of another.</summary>
    public bool HasPrefixLiteral()
    {
        for (int n = 1; n < _label.Count; n++)
            if (_value[n] != NotTerminal && _firstChild[n] >= 0)
                return true;
        return false;
    }
}
