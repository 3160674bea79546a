namespace MoeDetect.Model.Engines;

/// <summary>An engine that takes letterboxed 8-bit BGR canvases (the model's W×H×3 bytes each) and normalises them
/// itself, on its own device. Callers write the canvases of a batch into <see cref="PixelStaging"/> (host memory
/// the device copies from directly) and then call <see cref="RunPixels"/>.</summary>
public interface IPixelInputEngine : IInferenceEngine
{
    /// <summary>Room for <see cref="IInferenceEngine.MaxBatch"/> canvases, one after the other.</summary>
    Span<byte> PixelStaging { get; }

    /// <summary>Runs the canvases in <see cref="PixelStaging"/> (slot 0; see <see cref="RunPixelSlot"/> for how long the output holds).</summary>
    EngineOutput RunPixels(int batchSize);

    /// <summary>Staging slots: with two, the next batch can be written into one while a batch runs from the other
    /// (<see cref="PixelSlot"/>, <see cref="RunPixelSlot"/>); slot 0 is <see cref="PixelStaging"/>.</summary>
    int PixelSlots => 1;

    Span<byte> PixelSlot(int slot) => slot == 0 ? PixelStaging : throw new ArgumentOutOfRangeException(nameof(slot), $"{Name} has one staging slot");

    /// <summary>Runs the canvases written into <paramref name="slot"/>; the slot may be written again once this returns.
    /// The output's tensors may be refilled by the slot's next run: decode them before running the slot again.</summary>
    EngineOutput RunPixelSlot(int batchSize, int slot) =>
        slot == 0 ? RunPixels(batchSize) : throw new ArgumentOutOfRangeException(nameof(slot), $"{Name} has one staging slot");

    /// <summary>True when <see cref="StartPixelSlot"/> may be called for one slot while the other slot's run is still
    /// going (the engine runs them in the order started, and may begin the second's upload at once); otherwise a run
    /// is started only once the one before it has finished.</summary>
    bool QueuesRuns => false;

    /// <summary><see cref="RunPixelSlot"/> started in the background; one at a time unless <see cref="QueuesRuns"/>. Engines with a thread of their own
    /// run it there directly rather than from a thread-pool thread that waits for it (fewer hand-offs per batch).</summary>
    Task<EngineOutput> StartPixelSlot(int batchSize, int slot) => Task.Run(() => RunPixelSlot(batchSize, slot));
}
