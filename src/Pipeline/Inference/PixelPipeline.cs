using MoeDetect.Model.Engines;

namespace MoeDetect.Pipeline.Inference;

/// <summary>Which engines <see cref="PixelPipeline{TBatch}"/> can overlap.</summary>
internal static class PixelPipeline
{
    /// <summary>Engines with one slot are read while they run, so they cannot overlap.</summary>
    public static bool Supports(IInferenceEngine engine) => engine is IPixelInputEngine { PixelSlots: 2 } and not IRoutedPixelEngine;
}

/// <summary>Runs batches on a pixel engine with two staging slots one after another in the background, so that the
/// caller writes the next batch into the free slot and decodes the previous batch while the engine runs: the host's
/// per-batch work (letterboxing, decoding, NMS) overlaps the device's instead of adding to it. Each run carries the
/// caller's <typeparamref name="TBatch"/> (what it needs to decode that batch) and gives it back with the output.</summary>
internal sealed class PixelPipeline<TBatch>(IPixelInputEngine engine)
{
    private (TBatch Batch, Task<EngineOutput> Run)? _running;
    private int _slot;

    public bool IsRunning => _running is not null;

    /// <summary>Where the next batch's canvases go.</summary>
    public Span<byte> Slot => engine.PixelSlot(_slot);

    /// <summary>Starts <paramref name="batch"/>, whose <paramref name="batchSize"/> canvases were written into
    /// <see cref="Slot"/>, and returns the batch that was running with its output (null when none) once it is done.
    /// Engines that queue runs get the new batch before the wait, so its upload overlaps the running batch; others
    /// after it.</summary>
    public (TBatch Batch, EngineOutput Output)? Start(TBatch batch, int batchSize)
    {
        var previous = engine.QueuesRuns ? null : Wait();
        var started = (batch, engine.StartPixelSlot(batchSize, _slot));
        _slot = 1 - _slot;
        if (engine.QueuesRuns) previous = Wait(); // the batch started before this one
        _running = started;
        return previous;
    }

    /// <summary>The running batch with its output once it is done; null when none runs. Its failure is rethrown here.</summary>
    public (TBatch Batch, EngineOutput Output)? Wait()
    {
        if (_running is not { } running) return null;
        _running = null;
        EngineThread.SpinBriefly(() => running.Run.IsCompleted);
        return (running.Batch, running.Run.GetAwaiter().GetResult());
    }
}
