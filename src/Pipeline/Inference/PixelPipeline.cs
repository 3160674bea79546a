using MoeDetect.Model.Engines;

namespace MoeDetect.Pipeline.Inference;

/// <summary>Runs batches on a pixel engine with two staging slots one after another on a worker thread, so that the
/// caller writes the next batch into the free slot and decodes the previous batch while the engine runs: the host's
/// per-batch work (letterboxing, decoding, NMS) overlaps the device's instead of adding to it.</summary>
internal sealed class PixelPipeline(IPixelInputEngine engine)
{
    private Task<EngineOutput>? _running;
    private int _slot;

    /// <summary>Engines with one slot are read while they run, so they cannot overlap.</summary>
    public static bool Supports(IInferenceEngine engine) => engine is IPixelInputEngine { PixelSlots: 2 } and not IRoutedPixelEngine;

    public bool IsRunning => _running is not null;

    /// <summary>Where the next batch's canvases go.</summary>
    public Span<byte> Slot => engine.PixelSlot(_slot);

    /// <summary>Waits for the batch running (its output; null when none), then starts the one written into <see cref="Slot"/>.</summary>
    public EngineOutput? Start(int batchSize)
    {
        var previous = Wait();
        int slot = _slot;
        _running = Task.Run(() => engine.RunPixelSlot(batchSize, slot));
        _slot = 1 - _slot;
        return previous;
    }

    /// <summary>The running batch's output once it is done; null when none runs. Its failure is rethrown here.</summary>
    public EngineOutput? Wait()
    {
        var running = _running;
        _running = null;
        return running?.GetAwaiter().GetResult();
    }
}
