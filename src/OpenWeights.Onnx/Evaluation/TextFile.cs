using System.Text;

namespace OpenWeights.Onnx.Evaluation;

/// <summary>
/// Reads a text to score, refusing what is not text: invalid UTF-8 or NUL bytes mean a binary file (a model, an
/// archive), and scoring one would print a perplexity that means nothing.
/// </summary>
public static class TextFile
{
    public static string ReadUtf8(string path)
    {
        if (!File.Exists(path))
            throw new IOException($"{path}: text file not found.");
        byte[] bytes = File.ReadAllBytes(path);
        int nul = Array.IndexOf(bytes, (byte)0);
        if (nul >= 0)
            throw new InvalidDataException($"{path}: holds a NUL byte at offset {nul}, so it is a binary file, not text; give a UTF-8 text file.");
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes).TrimStart('\uFEFF');
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"{path}: is not UTF-8 text (invalid byte at offset {e.Index}); give a UTF-8 text file.", e);
        }
    }
}
