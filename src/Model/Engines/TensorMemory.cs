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

    /// <summary>A queue of copies that runs beside the engine's runs, with <paramref name="marks"/> numbered points
    /// to wait for and time between.</summary>
    public abstract CopyStream OpenCopyStream(int marks);

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
    public override void CopyIn(nint host, nint tensor, long bytes) => Copy(host, tensor, bytes);
    public override void CopyOut(nint tensor, nint host, long bytes) => Copy(tensor, host, bytes);
    public override CopyStream OpenCopyStream(int marks) => new HostCopyStream(marks);
    protected override unsafe nint AllocateTensorMemory(long bytes) => (nint)NativeMemory.AlignedAlloc((nuint)bytes, 64);
    protected override nint AllocateStagingMemory(long bytes) => AllocateTensorMemory(bytes);
    protected override unsafe void Free(nint pointer, bool device) => NativeMemory.AlignedFree((void*)pointer);

    /// <summary>A host-to-host copy; none where both sides are the same buffer (the tensor is its own staging).</summary>
    internal static unsafe void Copy(nint from, nint to, long bytes)
    {
        if (from != to) Buffer.MemoryCopy((void*)from, (void*)to, bytes, bytes);
    }
}

/// <summary>Memory of the first CUDA device (the one CUDA calls use by default), with page-locked host staging.</summary>
public sealed class CudaTensorMemory : TensorMemory
{
    private readonly OrtMemoryInfo _info = new(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, 0, OrtMemType.Default);

    public override OrtMemoryInfo Info => _info;
    public override bool IsHost => false;
    public override void CopyIn(nint host, nint tensor, long bytes) => CudaRuntime.CopyToDevice(host, tensor, bytes);
    public override void CopyOut(nint tensor, nint host, long bytes) => CudaRuntime.CopyToHost(tensor, host, bytes);
    public override CopyStream OpenCopyStream(int marks) => new CudaCopyStream(marks);
    protected override nint AllocateTensorMemory(long bytes) => CudaRuntime.AllocateDevice(bytes);
    protected override nint AllocateStagingMemory(long bytes) => CudaRuntime.AllocatePinnedHost(bytes);
    protected override void Free(nint pointer, bool device)
    {
        if (device) CudaRuntime.FreeDevice(pointer);
        else CudaRuntime.FreePinnedHost(pointer);
    }
}

/// <summary>Copies queued in order, apart from the engine's own work: on the GPU a CUDA stream of its own, so uploads
/// and downloads run while the engine runs; marks are events recorded in the queue, to wait for and to time the
/// copies between (device time). Copies between equal addresses are skipped.</summary>
public abstract class CopyStream : IDisposable
{
    /// <summary>Queues a copy of <paramref name="bytes"/> from <paramref name="from"/> to <paramref name="to"/> (either side host or device).</summary>
    public abstract void Copy(nint from, nint to, long bytes);

    /// <summary>Marks the point the queue has reached (everything queued before this call).</summary>
    public abstract void Record(int mark);

    /// <summary>Blocks until the queue has passed <paramref name="mark"/>.</summary>
    public abstract void Wait(int mark);

    /// <summary>Milliseconds between two marks the queue has passed.</summary>
    public abstract double ElapsedMs(int from, int to);

    /// <summary>Holds back what is queued here from now on until <paramref name="other"/> has passed its
    /// <paramref name="mark"/>, without the host waiting.</summary>
    public abstract void After(CopyStream other, int mark);

    /// <summary>The CUDA stream behind the queue (ONNX Runtime's user_compute_stream takes it); 0 in host memory.</summary>
    public abstract nint Handle { get; }

    public abstract void Dispose();
}

/// <summary>Host memory: each copy is done when queued, marks are clock readings.</summary>
internal sealed class HostCopyStream(int marks) : CopyStream
{
    private readonly long[] _marks = new long[marks];

    public override void Copy(nint from, nint to, long bytes) => HostTensorMemory.Copy(from, to, bytes);

    public override void Record(int mark) => _marks[mark] = System.Diagnostics.Stopwatch.GetTimestamp();
    public override void Wait(int mark) { }
    public override double ElapsedMs(int from, int to) => (_marks[to] - _marks[from]) * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
    public override void After(CopyStream other, int mark) { }
    public override nint Handle => 0;
    public override void Dispose() { }
}

/// <summary>A non-blocking CUDA stream (no implicit ordering with other streams: whoever needs a copy done waits for
/// its mark) and one event per mark.</summary>
internal sealed class CudaCopyStream : CopyStream
{
    private nint _stream;
    private readonly nint[] _events;

    public CudaCopyStream(int marks)
    {
        _stream = CudaRuntime.CreateStream();
        _events = new nint[marks];
        try
        {
            for (int i = 0; i < marks; i++) _events[i] = CudaRuntime.CreateEvent();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public override void Copy(nint from, nint to, long bytes)
    {
        if (from != to && bytes > 0) CudaRuntime.CopyAsync(from, to, bytes, _stream);
    }

    public override void Record(int mark) => CudaRuntime.RecordEvent(_events[mark], _stream);
    public override void Wait(int mark) => CudaRuntime.WaitForEvent(_events[mark]);
    public override double ElapsedMs(int from, int to) => CudaRuntime.ElapsedMs(_events[from], _events[to]);
    public override void After(CopyStream other, int mark) => CudaRuntime.StreamWaitEvent(_stream, ((CudaCopyStream)other)._events[mark]);
    public override nint Handle => _stream;

    /// <summary>Once only: a loader that hands the queue to an engine frees it too when the engine fails to start.</summary>
    public override void Dispose()
    {
        for (int i = 0; i < _events.Length; i++)
        {
            if (_events[i] != 0) CudaRuntime.DestroyEvent(_events[i]);
            _events[i] = 0;
        }
        if (_stream != 0) CudaRuntime.DestroyStream(_stream);
        _stream = 0;
    }
}
