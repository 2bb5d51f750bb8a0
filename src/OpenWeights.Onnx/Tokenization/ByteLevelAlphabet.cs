namespace OpenWeights.Onnx.Tokenization;

/// <summary>
/// GPT-2's byte-to-character table (<c>bytes_to_unicode</c>) that byte-level BPE vocabularies are written in:
/// printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 onward (so space is 'Ġ').
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly short[] CharToByteTable = Build();

    private static short[] Build()
    {
        var table = new short[256 + 68];
        Array.Fill(table, (short)-1);
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= '¡' and <= '¬' or >= '®' and <= 'ÿ';
            table[printable ? b : next++] = (short)b;
        }
        return table;
    }

    /// <summary>
    /// Appends the bytes a vocabulary token stands for. As Hugging Face's ByteLevel decoder does, a token with any
    /// character outside the table (an added token such as "&lt;| im |&gt;" with spaces) is taken as plain UTF-8.
    /// </summary>
    public static void AppendTokenBytes(string token, List<byte> output)
    {
        foreach (char c in token)
        {
            if (c >= CharToByteTable.Length || CharToByteTable[c] < 0)
            {
                output.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
                return;
            }
        }
        foreach (char c in token)
            output.Add((byte)CharToByteTable[c]);
    }
}
