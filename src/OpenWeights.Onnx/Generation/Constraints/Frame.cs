namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>
/// One level of the parser's stack: the grammar node being matched and how far into it. The meaning of
/// <see cref="Phase"/>, <see cref="A"/>, <see cref="B"/> and <see cref="Seen"/> belongs to the node's kind
/// (<see cref="ByteMatcher"/>). A frame is a plain value, so a parser state can be copied for nothing while a step
/// explores the tokens of the vocabulary.
/// </summary>
internal struct Frame : IEquatable<Frame>
{
    public int Node;
    public int Phase;
    public int A;
    public int B;
    public ulong Seen;

    public Frame(int node)
    {
        Node = node;
    }

    public readonly bool Equals(Frame other) =>
        Node == other.Node && Phase == other.Phase && A == other.A && B == other.B && Seen == other.Seen;

    public override readonly bool Equals(object? obj) => obj is Frame f && Equals(f);

    public override readonly int GetHashCode() => HashCode.Combine(Node, Phase, A, B, Seen);
}

/// <summary>
/// A parser state: the top frame held inline and the rest of the stack as a pointer into a <see cref="FrameArena"/>,
/// where frames below the top are never changed once written. Copying a state is therefore copying this struct,
/// which is what lets a token-trie walk branch at every byte without copying stacks.
/// </summary>
internal struct ParserState
{
    public Frame Top;
    /// <summary>Arena index of the frame under <see cref="Top"/>; -1 when the top is the bottom.</summary>
    public int Below;
    /// <summary>Frames on the stack; 0 when the document is complete.</summary>
    public int Depth;

    public static ParserState Start(int rootNode) => new() { Top = new Frame(rootNode), Below = -1, Depth = 1 };
}

/// <summary>
/// Append-only storage of the frames below each state's top (each with the index of the frame under it). A sequence's
/// real state keeps its frames here; the frames a mask computation writes are dropped afterwards by
/// <see cref="Truncate"/>, so the arena grows only with the nesting the generated text really opened.
/// </summary>
internal sealed class FrameArena
{
    private Frame[] _frames = new Frame[256];
    private int[] _below = new int[256];

    public int Length { get; private set; }

    public int Push(in Frame frame, int below)
    {
        if (Length == _frames.Length)
        {
            Array.Resize(ref _frames, _frames.Length * 2);
            Array.Resize(ref _below, _below.Length * 2);
        }
        _frames[Length] = frame;
        _below[Length] = below;
        return Length++;
    }

    public ref readonly Frame this[int index] => ref _frames[index];

    public int BelowOf(int index) => _below[index];

    public void Truncate(int length) => Length = length;
}
