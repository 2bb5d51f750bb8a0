using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Tokenization;

namespace OpenWeights.Onnx.Tests.Generation.Tools;

/// <summary>The tool-call format is chosen from what the model's chat template and tokenizer teach it.</summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ToolCallFormatTests
{
    [TestMethod]
    public void Qwen3sRealTemplateIsHermes()
    {
        var tokenizer = TextTokenizer.FromFolder(TestFixtures.Tokenizers("qwen3"));
        Assert.AreSame(ToolCallFormat.Hermes, ToolCallFormat.Detect(tokenizer.ChatTemplate, tokenizer.AddedTokens.Select(a => a.Content)));
    }

    [TestMethod]
    public void ATemplateWithoutToolsHasNoFormat()
    {
        var tokenizer = TextTokenizer.FromFolder(TestFixtures.FortuneLlama);
        Assert.IsNull(ToolCallFormat.Detect(tokenizer.ChatTemplate, tokenizer.AddedTokens.Select(a => a.Content)));
        // Even with a tokenizer that has tool tokens: a template that never reads 'tools' cannot show them.
        Assert.IsNull(ToolCallFormat.Detect("{{ messages[0].content }}", ["<tool_call>", "[TOOL_CALLS]"]));
    }

    [TestMethod]
    public void LlamaAndMistralMarkersAreRecognised()
    {
        const string llama = "{%- if tools is not none %}{{- '<|start_header_id|>ipython' }}{%- endif %}{{- '<|python_tag|>' }}";
        Assert.AreSame(ToolCallFormat.Llama3, ToolCallFormat.Detect(llama, []));
        const string mistral = "{%- if tools %}[AVAILABLE_TOOLS]{{ tools|tojson }}[/AVAILABLE_TOOLS]{% endif %}{{ '[TOOL_CALLS] [' }}";
        Assert.AreSame(ToolCallFormat.Mistral, ToolCallFormat.Detect(mistral, []));
        Assert.AreSame(ToolCallFormat.Mistral, ToolCallFormat.Detect("{% for t in tools %}{% endfor %}", ["[TOOL_CALLS]"]));
        // Ministral 3 / Devstral Small 2: [TOOL_CALLS]name[ARGS]{…} (the line their templates write for each call).
        const string mistralArgs = "{%- if tools %}[AVAILABLE_TOOLS]{{ tools|tojson }}[/AVAILABLE_TOOLS]{% endif %}" +
                                   "{{- '[TOOL_CALLS]' + tool['function']['name'] + '[ARGS]' + arguments }}";
        Assert.AreSame(ToolCallFormat.MistralArgs, ToolCallFormat.Detect(mistralArgs, []));
        Assert.AreSame(ToolCallFormat.MistralArgs, ToolCallFormat.Detect("{% for t in tools %}{% endfor %}", ["[TOOL_CALLS]", "[ARGS]"]));
    }

    [TestMethod]
    public void FormatsAreNamedForTheOverride()
    {
        Assert.AreSame(ToolCallFormat.Llama3, ToolCallFormat.FromName("LLAMA3"));
        var e = Assert.ThrowsExactly<ArgumentException>(() => ToolCallFormat.FromName("xml"));
        StringAssert.Contains(e.Message, "hermes, llama3, mistral, mistral-args");
    }

    /// <summary>A forced call (prefix, arguments, suffix) reads back as exactly that call in every format.</summary>
    [TestMethod]
    public void ForcedCallTextReadsBackAsTheCall()
    {
        ToolDefinition[] tools = [new("get_weather", null, null), new("get_time", null, null)];
        foreach (var format in ToolCallFormat.All)
        {
            string text = format.CallPrefix("get_weather", first: true) + "{\"city\": \"Paris\"}" + format.CallSuffix
                          + format.CallPrefix("get_time", first: false) + "{}" + format.CallSuffix + format.CallsEnd;
            var (content, calls) = ToolCallReader.Parse(format, tools, text);
            Assert.IsNull(content, $"{format.Name}: {text}");
            Assert.HasCount(2, calls, $"{format.Name}: {text}");
            Assert.AreEqual("get_weather", calls[0].Name);
            Assert.AreEqual("{\"city\": \"Paris\"}", calls[0].Arguments);
            Assert.AreEqual("get_time", calls[1].Name);
        }
    }
}
