namespace OpenWeights.Onnx.Generation.Constraints;

/// <summary>
/// The bytes of a JSON string after its opening quote, one at a time: escapes (a <c>\u</c> escape may not be a
/// surrogate, so every string is valid Unicode text), no raw control characters, and well-formed UTF-8 (no overlong
/// forms, no surrogates, nothing above U+10FFFF) even when a token ends in the middle of a character.
/// </summary>
internal static class JsonStringLexer
{
    public const int Normal = 0;
    private const int Escape = 1, Hex1 = 2, Hex2NoSurrogate = 3, Hex2 = 4, Hex3 = 5, Hex4 = 6;
    private const int Cont1 = 7, Cont2 = 8, Cont3 = 9, AfterE0 = 10, AfterED = 11, AfterF0 = 12, AfterF4 = 13;

    public enum Result { Continue, Close, Reject }

    /// <param name="state">The lexer's state (<see cref="Normal"/> right after the opening quote), advanced in place.</param>
    /// <param name="b">The next byte.</param>
    /// <param name="escapes">Whether a backslash may start an escape (property names of schema objects may not).</param>
    public static Result Step(ref int state, byte b, bool escapes)
    {
        switch (state)
        {
            case Normal:
                if (b == (byte)'"')
                    return Result.Close;
                if (b == (byte)'\\')
                    return escapes ? Go(ref state, Escape) : Result.Reject;
                if (b < 0x20)
                    return Result.Reject;
                if (b < 0x80)
                    return Result.Continue;
                if (b is >= 0xC2 and <= 0xDF) return Go(ref state, Cont1);
                if (b == 0xE0) return Go(ref state, AfterE0);
                if (b == 0xED) return Go(ref state, AfterED);
                if (b is >= 0xE1 and <= 0xEF) return Go(ref state, Cont2);
                if (b == 0xF0) return Go(ref state, AfterF0);
                if (b is >= 0xF1 and <= 0xF3) return Go(ref state, Cont3);
                if (b == 0xF4) return Go(ref state, AfterF4);
                return Result.Reject;
            case Escape:
                if (b == (byte)'u') return Go(ref state, Hex1);
                return b is (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t'
                    ? Go(ref state, Normal) : Result.Reject;
            case Hex1:
                if (b is (byte)'d' or (byte)'D') return Go(ref state, Hex2NoSurrogate);
                return IsHex(b) ? Go(ref state, Hex2) : Result.Reject;
            case Hex2NoSurrogate:
                return b is >= (byte)'0' and <= (byte)'7' ? Go(ref state, Hex3) : Result.Reject;
            case Hex2:
                return IsHex(b) ? Go(ref state, Hex3) : Result.Reject;
            case Hex3:
                return IsHex(b) ? Go(ref state, Hex4) : Result.Reject;
            case Hex4:
                return IsHex(b) ? Go(ref state, Normal) : Result.Reject;
            case Cont1:
                return b is >= 0x80 and <= 0xBF ? Go(ref state, Normal) : Result.Reject;
            case Cont2:
                return b is >= 0x80 and <= 0xBF ? Go(ref state, Cont1) : Result.Reject;
            case Cont3:
                return b is >= 0x80 and <= 0xBF ? Go(ref state, Cont2) : Result.Reject;
            case AfterE0:
                return b is >= 0xA0 and <= 0xBF ? Go(ref state, Cont1) : Result.Reject;
            case AfterED:
                return b is >= 0x80 and <= 0x9F ? Go(ref state, Cont1) : Result.Reject;
            case AfterF0:
                return b is >= 0x90 and <= 0xBF ? Go(ref state, Cont2) : Result.Reject;
            case AfterF4:
                return b is >= 0x80 and <= 0x8F ? Go(ref state, Cont2) : Result.Reject;
            default:
                return Result.Reject;
        }
    }

    private static Result Go(ref int state, int next)
    {
        state = next;
        return Result.Continue;
    }

    private static bool IsHex(byte b) => b is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';
}
