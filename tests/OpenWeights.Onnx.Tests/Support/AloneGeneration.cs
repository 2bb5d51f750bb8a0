using OpenWeights.Onnx.Generation;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Support;

/// <summary>
/// What the library gives for a request run alone, outside the server: TextGenerator for a raw prompt (as
/// <c>owonnx run</c>), ChatSession for one user message (as <c>owonnx run --chat</c>). The server must match it.
/// </summary>
public static class AloneGeneration
{
    public static GenerationResult Completion(string prompt, GenerationOptions options)
    {
        string dir = FortuneReference.ConvertedFp32;
        using var model = LanguageModel.Load(dir);
        using var generator = new TextGenerator(model, TextTokenizer.FromFolder(dir));
        return generator.Generate(prompt, options);
    }

    public static GenerationResult Chat(string userMessage, GenerationOptions options)
    {
        string dir = FortuneReference.ConvertedFp32;
        var tokenizer = TextTokenizer.FromFolder(dir);
        using var model = LanguageModel.Load(dir);
        using var generator = new TextGenerator(model, tokenizer);
        using var chat = new ChatSession(generator, ChatTemplate.ForModel(dir, tokenizer.ChatTemplate));
        var chunks = chat.Send(userMessage, options).ToList();
        return new GenerationResult(string.Concat(chunks.Select(c => c.Text)), chunks.Where(c => c.TokenId >= 0).Select(c => c.TokenId).ToList(),
            generator.Tokens.Finish ?? FinishReason.Length, generator.Tokens.Stats);
    }
}
