using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Ilgpu;

/// <summary>The ILGPU engine fed as the product feeds it: letterboxed 8-bit canvases written into page-locked
/// staging (two slots: the next batch is written while one runs), normalised on the device (<see cref="DeviceCanvases"/>).
/// Holds the requested batch's canvases per slot. A batch's upload is queued the moment it is started, beside the
/// batch still running; its normalisation and net are then queued by the engine's own thread behind that batch, and
/// its outputs collected by a second thread (<see cref="ExecutionPlan.Queue"/>): the engine's thread queues the next
/// batch while this one's outputs cross to the host, so the device does not idle between batches for the crossing and
/// the host's copy on (YOLOv8n at batch 32 on the H100: 7.20 ms a batch against 6.52 ms of inference when one thread did
/// both, docs/results/2026-12-08-h100-row-segments).</summary>
public sealed class IlgpuPixelEngine : IPixelInputEngine
{
    private readonly IlgpuEngine _engine;
    private readonly DeviceCanvases _canvases;
    private readonly EngineThread _thread = new("ilgpu-pixel-engine");
    private readonly EngineThread _collector = new("ilgpu-pixel-outputs");
    private readonly int _valuesPerImage;
    /// <summary>Each slot's last output tensors, refilled by its next run of the same batch size: a fresh array per run
    /// (YOLOv8n's 1,000 candidate rows: 0.3 MB an image) lands on the large-object heap.</summary>
    private readonly IReadOnlyList<NamedTensor>?[] _slotOutputs = new IReadOnlyList<NamedTensor>?[Slots];
    /// <summary>Each slot's last queued batch until collected, which <see cref="Dispose"/> lets finish first.</summary>
    private readonly Task?[] _collects = new Task?[Slots];

    private const int Slots = 2;

    /// <summary>Set to 0 to run each batch whole on the engine's thread, outputs and all (as before outputs were collected
    /// on a second thread), to time the two in one build.</summary>
    public const string CollectorSwitch = "MOEDETECT_ILGPU_OUTPUT_COLLECTOR";

    private readonly bool _collectsOutputs;

    /// <param name="collectOutputs">Whether outputs are collected on a second thread; unless given, as
    /// <see cref="CollectorSwitch"/> says (on unless 0).</param>
    public IlgpuPixelEngine(IlgpuEngine engine, InputSpec spec, int capacity, bool? collectOutputs = null)
    {
        _engine = engine;
        _collectsOutputs = collectOutputs ?? Environment.GetEnvironmentVariable(CollectorSwitch) != "0";
        _valuesPerImage = spec.ValuesPerImage;
        try
        {
            _canvases = engine.Canvases(spec, capacity, slots: Slots);
        }
        catch
        {
            _thread.Dispose();
            _collector.Dispose();
            throw;
        }
    }

    public string Name => _engine.Name;
    public int MaxBatch => _canvases.Capacity;
    public Span<byte> PixelStaging => PixelSlot(0);

    public int PixelSlots => _canvases.Slots;

    public Span<byte> PixelSlot(int slot) => _canvases.Staging(slot);

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize) => _thread.Invoke(() => _engine.Run(input, batchSize));

    public EngineOutput RunPixels(int batchSize) => RunPixelSlot(batchSize, 0);

    public EngineOutput RunPixelSlot(int batchSize, int slot) => StartPixelSlot(batchSize, slot).GetAwaiter().GetResult();

    public bool QueuesRuns => true;

    public Task<EngineOutput> StartPixelSlot(int batchSize, int slot)
    {
        if (batchSize < 1 || batchSize > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch of {batchSize}; this engine takes 1 to {MaxBatch}");
        _canvases.Upload(slot, batchSize);
        if (!_collectsOutputs || !_engine.QueuesBatch(batchSize))
            return _thread.Start(() => WithUpload(_engine.RunBatch(batchSize, batchSize * _valuesPerImage, Normalize(slot), _slotOutputs[slot]), slot));
        var collected = Collect(_thread.Start(() => _engine.QueueBatch(batchSize, batchSize * _valuesPerImage, Normalize(slot), slot)), slot);
        _collects[slot] = collected;
        return collected;
    }

    private Action<ILGPU.ArrayView<float>, int, int> Normalize(int slot) => (input, first, count) => _canvases.Normalize(slot, input, first, count);

    /// <summary>The queued batch's outputs, gathered on the collecting thread once it is queued.</summary>
    private async Task<EngineOutput> Collect(Task<QueuedRun> queued, int slot)
    {
        var run = await queued.ConfigureAwait(false);
        return await _collector.Start(() => WithUpload(_engine.CollectBatch(run, _slotOutputs[slot]), slot)).ConfigureAwait(false);
    }

    /// <summary>The slot's output tensors kept for its next run; the batch's upload time is the copy's device time plus
    /// the host's wait for it and the normalisation's launch.</summary>
    private EngineOutput WithUpload(EngineOutput output, int slot)
    {
        _slotOutputs[slot] = output.Tensors;
        return output with { Timings = output.Timings with { UploadMs = output.Timings.UploadMs + _canvases.UploadMs(slot) } };
    }

    public void Dispose()
    {
        foreach (var collect in _collects)
        {
            try
            {
                collect?.Wait();
            }
            // A failed batch's error went to whoever started it.
            catch (AggregateException) { }
        }
        _thread.Dispose();
        _collector.Dispose();
        _canvases.Dispose();
        _engine.Dispose();
    }
}
