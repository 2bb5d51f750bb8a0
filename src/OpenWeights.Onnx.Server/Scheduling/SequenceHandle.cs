using System.Threading.Channels;

namespace OpenWeights.Onnx.Server.Scheduling;

/// <summary>The consumer's side of a scheduled sequence: its events, read by one reader.</summary>
public sealed class SequenceHandle
{
    internal SequenceHandle(ChannelReader<SequenceEvent> events, int promptTokens)
    {
        Events = events;
        PromptTokens = promptTokens;
    }

    public ChannelReader<SequenceEvent> Events { get; }
    public int PromptTokens { get; }
}
