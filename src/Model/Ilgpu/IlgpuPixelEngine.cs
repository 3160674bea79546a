using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Ilgpu;

/// <summary>The ILGPU engine fed as the product feeds it: letterboxed 8-bit canvases written into page-locked
/// staging, normalised on the device (<see cref="DeviceCanvases"/>). Holds <paramref name="capacity"/> canvases (the
/// requested batch).</summary>
public sealed class IlgpuPixelEngine : IPixelInputEngine
{
    private readonly IlgpuEngine _engine;
    private readonly DeviceCanvases _canvases;
    private readonly int _valuesPerImage;

    public IlgpuPixelEngine(IlgpuEngine engine, InputSpec spec, int capacity)
    {
        _engine = engine;
        _valuesPerImage = spec.ValuesPerImage;
        _canvases = engine.Canvases(spec, capacity);
    }

    public string Name => _engine.Name;
    public int MaxBatch => _canvases.Capacity;
    public Span<byte> PixelStaging => _canvases.Staging;

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize) => _engine.Run(input, batchSize);

    public EngineOutput RunPixels(int batchSize) => _engine.RunBatch(batchSize, batchSize * _valuesPerImage, _canvases.Normalize);

    public void Dispose()
    {
        _canvases.Dispose();
        _engine.Dispose();
    }
}
