using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Ilgpu;

/// <summary>The ILGPU engine fed as the product feeds it: letterboxed 8-bit canvases written into page-locked
/// staging (two slots: the next batch is written while one runs), normalised on the device (<see cref="DeviceCanvases"/>).
/// Holds the requested batch's canvases per slot.</summary>
public sealed class IlgpuPixelEngine : IPixelInputEngine
{
    private readonly IlgpuEngine _engine;
    private readonly DeviceCanvases _canvases;
    private readonly int _valuesPerImage;

    public IlgpuPixelEngine(IlgpuEngine engine, InputSpec spec, int capacity)
    {
        _engine = engine;
        _valuesPerImage = spec.ValuesPerImage;
        _canvases = engine.Canvases(spec, capacity, slots: 2);
    }

    public string Name => _engine.Name;
    public int MaxBatch => _canvases.Capacity;
    public Span<byte> PixelStaging => PixelSlot(0);

    public int PixelSlots => _canvases.Slots;

    public Span<byte> PixelSlot(int slot) => _canvases.Staging(slot);

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize) => _engine.Run(input, batchSize);

    public EngineOutput RunPixels(int batchSize) => RunPixelSlot(batchSize, 0);

    public EngineOutput RunPixelSlot(int batchSize, int slot) =>
        _engine.RunBatch(batchSize, batchSize * _valuesPerImage, (input, first, count) => _canvases.Normalize(slot, input, first, count));

    public void Dispose()
    {
        _canvases.Dispose();
        _engine.Dispose();
    }
}
