using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Where a queued run's outputs wait for the host (<see cref="ExecutionPlan.Queue"/>): per device output,
/// device memory they are copied into behind the run's launches, and page-locked memory they cross into on a stream of
/// the slot's own (on CUDA one that neither waits for nor holds up the plan's), so that the crossing runs beside the
/// next run's launches instead of between them.</summary>
internal sealed class OutputSlot : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense>?[] _device;
    private readonly PageLockedArray1D<float>?[] _host;
    private readonly int[] _lengths;
    private readonly AcceleratorStream _stream;

    /// <param name="lengths">Per output, its length where it lies on the device, null where it was folded on the host.</param>
    public OutputSlot(Accelerator accelerator, IReadOnlyList<int?> lengths)
    {
        _device = new MemoryBuffer1D<float, Stride1D.Dense>?[lengths.Count];
        _host = new PageLockedArray1D<float>?[lengths.Count];
        _lengths = lengths.Select(length => length ?? 0).ToArray();
        _stream = accelerator is CudaAccelerator cuda ? cuda.CreateStream(StreamFlags.CU_STREAM_NON_BLOCKING) : accelerator.CreateStream();
        try
        {
            for (int o = 0; o < lengths.Count; o++)
            {
                if (lengths[o] is not { } length) continue;
                _device[o] = DeviceMemory.Allocate(accelerator, Math.Max(1, length), "queued run's outputs");
                _host[o] = accelerator.AllocatePageLocked1D<float>(Math.Max(1, length));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The device memory output <paramref name="output"/> is copied into, of its length.</summary>
    public ArrayView<float> Device(int output) => _device[output]!.View.SubView(0, _lengths[output]);

    /// <summary>The page-locked memory output <paramref name="output"/> crosses into (<see cref="Download"/>).</summary>
    public PageLockedArray1D<float> Host(int output) => _host[output]!;

    /// <summary>Copies every device output to its page-locked memory on the slot's stream and waits for the copies.</summary>
    public void Download()
    {
        for (int o = 0; o < _device.Length; o++)
            if (_device[o] is not null) Device(o).CopyTo(_stream, _host[o]!.ArrayView.SubView(0, _lengths[o]));
        _stream.Synchronize();
    }

    public void Dispose()
    {
        _stream.Dispose();
        foreach (var buffer in _device) buffer?.Dispose();
        foreach (var buffer in _host) buffer?.Dispose();
    }
}

/// <summary>A run queued by <see cref="ExecutionPlan.Queue"/> and not yet collected: its plan, output slot, the stream
/// markers around it and the host time its input's writing took.</summary>
internal sealed class QueuedRun(ExecutionPlan plan, OutputSlot slot, ProfilingMarker start, ProfilingMarker end, double uploadMs) : IDisposable
{
    public ExecutionPlan Plan => plan;
    public OutputSlot Slot => slot;
    public ProfilingMarker Start => start;
    public ProfilingMarker End => end;
    public double UploadMs => uploadMs;

    public void Dispose()
    {
        start.Dispose();
        end.Dispose();
    }
}
