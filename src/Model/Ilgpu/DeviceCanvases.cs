using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Preprocessing;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Network input from letterboxed 8-bit BGR canvases: the host writes them into page-locked memory
/// (<see cref="Staging"/>; with two slots the next batch can be written while one runs), they cross the bus as bytes
/// (a quarter of the floats) and <see cref="CanvasKernel"/> normalises them into the input on the device, so no
/// per-pixel work is left on the CPU.</summary>
internal sealed class DeviceCanvases : IDisposable
{
    private readonly KernelLibrary _kernels;
    private readonly InputSpec _spec;
    private readonly PageLockedArray1D<byte>[] _staging;
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> _canvases;

    public DeviceCanvases(KernelLibrary kernels, InputSpec spec, int capacity, int slots)
    {
        _staging = new PageLockedArray1D<byte>[slots];
        _kernels = kernels;
        _spec = spec;
        Capacity = capacity;
        long bytes = (long)capacity * spec.ValuesPerImage;
        try
        {
            for (int slot = 0; slot < slots; slot++) _staging[slot] = kernels.Accelerator.AllocatePageLocked1D<byte>(bytes);
            _canvases = kernels.Accelerator.Allocate1D<byte>(bytes);
        }
        catch (Exception e) when (e is AcceleratorException or OutOfMemoryException)
        {
            foreach (var staging in _staging) staging?.Dispose();
            throw new DeviceOutOfMemoryException($"{kernels.Accelerator.Name}: no room for {capacity} canvases of " +
                $"{spec.Width}x{spec.Height} ({bytes / (1024 * 1024)} MB); try --batch {Math.Max(1, capacity / 2)}", e);
        }
    }

    public int Slots => _staging.Length;

    /// <summary>How many canvases each slot of <see cref="Staging"/> holds.</summary>
    public int Capacity { get; }

    public Span<byte> Staging(int slot) => _staging[slot].Span;

    /// <summary>Copies canvases <paramref name="first"/>..+<paramref name="count"/> of a staging slot to the device and
    /// queues their normalisation into <paramref name="target"/> (the plan's input, 3·W·H floats per canvas).</summary>
    public void Normalize(int slot, ArrayView<float> target, int first, int count)
    {
        if (first < 0 || count < 1 || first + count > Capacity)
            throw new ArgumentOutOfRangeException(nameof(count), $"canvases {first}..{first + count - 1} are outside the {Capacity} staged");
        long per = _spec.ValuesPerImage, length = count * per;
        var canvases = _canvases.View.SubView(0, length);
        DeviceMemory.Upload(canvases, Staging(slot).Slice((int)(first * per), (int)length));
        _kernels.Canvas(count * _spec.Width * _spec.Height, canvases, target, DeviceLetterbox.Format(_spec));
    }

    public void Dispose()
    {
        foreach (var staging in _staging) staging.Dispose();
        _canvases.Dispose();
    }
}
