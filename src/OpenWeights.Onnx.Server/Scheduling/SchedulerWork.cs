namespace OpenWeights.Onnx.Server.Scheduling;

internal enum SchedulerWorkKind
{
    /// <summary>A chunk of one prompt read into its slot: <see cref="SchedulerWork.Count"/> tokens.</summary>
    Prefill,
    /// <summary>One decode step over slots [0, <see cref="SchedulerWork.Count"/>).</summary>
    Step,
}

/// <summary>One run the scheduler makes, reported before it runs (see <see cref="Scheduler.Observer"/>).</summary>
internal readonly record struct SchedulerWork(SchedulerWorkKind Kind, int Slot, int Count);
