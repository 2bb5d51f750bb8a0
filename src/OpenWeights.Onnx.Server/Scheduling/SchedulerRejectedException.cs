namespace OpenWeights.Onnx.Server.Scheduling;

/// <summary>The scheduler refused a request: every slot is busy and the queue is full, or it is shutting down.</summary>
public sealed class SchedulerRejectedException(SchedulerRejection reason, string message) : Exception(message)
{
    public SchedulerRejection Reason { get; } = reason;
}

public enum SchedulerRejection
{
    QueueFull,
    ShuttingDown,
}
