using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using MoeDetect.Model.Engines.Cuda;

namespace MoeDetect.Model.Engines;

/// <summary>Where a bound engine's tensors live, and how bytes move between them and the host. Frees what it
/// allocated when disposed.</summary>
public abstract class TensorMemory : IDisposable
{
    private readonly List<(nint Pointer, bool Device)> _allocations = [];

    /// <summary>ONNX Runtime's name for the memory the tensors are in.</summary>
    public abstract OrtMemoryInfo Info { get; }

    /// <summary>True when tensors are in host memory already, so staging buffers are the tensors themselves.</summary>
    public abstract bool IsHost { get; }

    public nint AllocateTensor(long bytes) => Track(AllocateTensorMemory(bytes), device: true);

    /// <summary>Host memory for frames on their way in and results on their way out.</summary>
    public nint AllocateStaging(long bytes) => Track(AllocateStagingMemory(bytes), device: false);

    public abstract void CopyIn(nint host, nint tensor, long bytes);
    public abstract void CopyOut(nint tensor, nint host, long bytes);

    protected abstract nint AllocateTensorMemory(long bytes);
    protected abstract nint AllocateStagingMemory(long bytes);
    protected abstract void Free(nint pointer, bool device);

    private nint Track(nint pointer, bool device)
    {
        _allocations.Add((pointer, device));
        return pointer;
    }

    public void Dispose()
    {
        foreach (var (pointer, device) in _allocations) Free(pointer, device);
        _allocations.Clear();
    }
}

/// <summary>Host memory (the CPU execution provider): the tensors are the staging buffers, so no copies.</summary>
public sealed class HostTensorMemory : TensorMemory
{
    public override OrtMemoryInfo Info => OrtMemoryInfo.DefaultInstance;
    public override bool IsHost => true;
    public override unsafe void CopyIn(nint host, nint tensor, long bytes) { if (host != tensor) Buffer.MemoryCopy((void*)host, (void*)tensor, bytes, bytes); }
    public override unsafe void CopyOut(nint tensor, nint host, long bytes) { if (host != tensor) Buffer.MemoryCopy((void*)tensor, (void*)host, bytes, bytes); }
    protected override unsafe nint AllocateTensorMemory(long bytes) => (nint)NativeMemory.AlignedAlloc((nuint)bytes, 64);
    protected override nint AllocateStagingMemory(long bytes) => AllocateTensorMemory(bytes);
    protected override unsafe void Free(nint pointer, bool device) => NativeMemory.AlignedFree((void*)pointer);
}

/// <summary>Memory of the first CUDA device (the one CUDA calls use by default), with page-locked host staging.</summary>
public sealed class CudaTensorMemory : TensorMemory
{
    private readonly OrtMemoryInfo _info = new(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, 0, OrtMemType.Default);

    public override OrtMemoryInfo Info => _info;
    public override bool IsHost => false;
    public override void CopyIn(nint host, nint tensor, long bytes) => CudaRuntime.CopyToDevice(host, tensor, bytes);
    public override void CopyOut(nint tensor, nint host, long bytes) => CudaRuntime.CopyToHost(tensor, host, bytes);
    protected override nint AllocateTensorMemory(long bytes) => CudaRuntime.AllocateDevice(bytes);
    protected override nint AllocateStagingMemory(long bytes) => CudaRuntime.AllocatePinnedHost(bytes);
    protected override void Free(nint pointer, bool device)
    {
        if (device) CudaRuntime.FreeDevice(pointer);
        else CudaRuntime.FreePinnedHost(pointer);
    }
}
