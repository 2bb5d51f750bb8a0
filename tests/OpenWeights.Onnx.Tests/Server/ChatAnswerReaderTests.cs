using OpenWeights.Onnx.Generation.Tools;
using OpenWeights.Onnx.Server.Endpoints;
using OpenWeights.Onnx.Server.Requests;
using OpenWeights.Onnx.Server.Scheduling;

namespace OpenWeights.Onnx.Tests.Server;

/// <summary>
/// The server's reading of a sequence's tokens into an answer. Llama's and Mistral's call markers are special tokens,
/// which the decoded text leaves out: the reader puts the marker back where its token came, so the call is found.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ChatAnswerReaderTests
{
    private const int MarkerId = 9;
    private static readonly ToolRequest Tools = new([new ToolDefinition("get_time", null, null)], ToolChoice.Auto, ParallelCalls: true);

    private static (string? Content, IReadOnlyList<ToolCall> Calls, string? Finish) Read(ChatAnswerReader reader, params (int Id, string Text)[] tokens)
    {
        var events = new List<ToolCallEvent>();
        foreach (var (id, text) in tokens)
            events.AddRange(reader.Push(new TokenGenerated(text, id, 0f, null)));
        events.AddRange(reader.Finish());
        var (content, calls) = ToolCallReader.Collect(events);
        return (content, calls, reader.FinishReason(OpenWeights.Onnx.Generation.FinishReason.Stop));
    }

    [TestMethod]
    public void AMistralMarkerTokenWithoutTextStillStartsTheCalls()
    {
        var reader = new ChatAnswerReader(ToolCallFormat.Mistral, Tools, MarkerId, streamArguments: false);
        var (content, calls, finish) = Read(reader, (MarkerId, ""), (100, "[{\"name\": \"get_time\","), (101, " \"arguments\": {}}]"));
        Assert.IsNull(content);
        Assert.AreEqual("get_time", calls.Single().Name);
        Assert.AreEqual("tool_calls", finish);
    }

    [TestMethod]
    public void MistralsNameArgsMarkersAsSpecialTokensStartAndSplitTheCall()
    {
        const int argsId = 10;
        var reader = new ChatAnswerReader(ToolCallFormat.MistralArgs, Tools, MarkerId, streamArguments: true, argsTokenId: argsId);
        var (content, calls, finish) = Read(reader, (50, "Sure."), (MarkerId, ""), (100, "get_"), (101, "time"), (argsId, ""), (102, "{}"));
        Assert.AreEqual("Sure.", content);
        Assert.AreEqual("get_time {}", $"{calls.Single().Name} {calls.Single().Arguments}");
        Assert.AreEqual("tool_calls", finish);
    }

    [TestMethod]
    public void WithoutTheMarkerTokenTheSameTextIsText()
    {
        var reader = new ChatAnswerReader(ToolCallFormat.Mistral, Tools, MarkerId, streamArguments: false);
        var (content, calls, finish) = Read(reader, (100, "[{\"name\": \"get_time\","), (101, " \"arguments\": {}}]"));
        Assert.AreEqual("[{\"name\": \"get_time\", \"arguments\": {}}]", content);
        Assert.IsEmpty(calls);
        Assert.AreEqual("stop", finish);
    }

    [TestMethod]
    public void ToolChoiceNoneReadsNoCalls()
    {
        var reader = new ChatAnswerReader(ToolCallFormat.Hermes, Tools with { Choice = ToolChoice.None }, null, streamArguments: false);
        const string text = "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>";
        var (content, calls, _) = Read(reader, (100, text));
        Assert.AreEqual(text, content);
        Assert.IsEmpty(calls);
    }

    [TestMethod]
    public void ParallelCallsOffKeepsTheFirstCall()
    {
        var reader = new ChatAnswerReader(ToolCallFormat.Hermes, Tools with { ParallelCalls = false }, null, streamArguments: false);
        var (_, calls, _) = Read(reader, (100, "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>"),
            (101, "<tool_call>{\"name\": \"get_time\", \"arguments\": {\"x\": 1}}</tool_call>"));
        Assert.AreEqual("{}", calls.Single().Arguments);
    }
}
