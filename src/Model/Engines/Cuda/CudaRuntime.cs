using System.Runtime.InteropServices;

namespace MoeDetect.Model.Engines.Cuda;

/// <summary>The few CUDA runtime calls the device engine needs beyond ONNX Runtime: device and page-locked host
/// allocations, and copies between them. Bound to the libcudart that ONNX Runtime's CUDA provider itself loads,
/// so it exists wherever that provider runs.</summary>
public static partial class CudaRuntime
{
    private const string Library = CudaLibraries.Runtime;
    private const string Driver = "libcuda.so.1";

    // Default: the direction follows from the addresses (unified addressing, every 64-bit CUDA platform).
    private enum CopyKind { HostToDevice = 1, DeviceToHost = 2, Default = 4 }
    private const uint NonBlockingStream = 1;

    public static nint AllocateDevice(long bytes) => Allocate(bytes, cudaMalloc);

    /// <summary>Page-locked host memory: the GPU copies it by DMA, without a staging copy by the driver.</summary>
    public static nint AllocatePinnedHost(long bytes) => Allocate(bytes, cudaMallocHost);

    public static void FreeDevice(nint pointer) => Check(cudaFree(pointer), "cudaFree");

    public static void FreePinnedHost(nint pointer) => Check(cudaFreeHost(pointer), "cudaFreeHost");

    public static void CopyToDevice(nint source, nint destination, long bytes) =>
        Check(cudaMemcpy(destination, source, (nuint)bytes, CopyKind.HostToDevice), "cudaMemcpy to the device");

    public static void CopyToHost(nint source, nint destination, long bytes) =>
        Check(cudaMemcpy(destination, source, (nuint)bytes, CopyKind.DeviceToHost), "cudaMemcpy to the host");

    /// <summary>A copy queued on <paramref name="stream"/>; asynchronous for the host where the host side is page-locked.</summary>
    public static void CopyAsync(nint source, nint destination, long bytes, nint stream) =>
        Check(cudaMemcpyAsync(destination, source, (nuint)bytes, CopyKind.Default, stream), "cudaMemcpyAsync");

    /// <summary>A stream that does not wait for (nor hold up) the legacy default stream.</summary>
    public static nint CreateStream()
    {
        Check(cudaStreamCreateWithFlags(out var stream, NonBlockingStream), "cudaStreamCreateWithFlags");
        return stream;
    }

    public static void DestroyStream(nint stream) => Check(cudaStreamDestroy(stream), "cudaStreamDestroy");

    public static nint CreateEvent()
    {
        Check(cudaEventCreate(out var e), "cudaEventCreate");
        return e;
    }

    public static void DestroyEvent(nint e) => Check(cudaEventDestroy(e), "cudaEventDestroy");
    public static void RecordEvent(nint e, nint stream) => Check(cudaEventRecord(e, stream), "cudaEventRecord");
    public static void WaitForEvent(nint e) => Check(cudaEventSynchronize(e), "cudaEventSynchronize");

    /// <summary>Work queued on <paramref name="stream"/> after this starts once <paramref name="e"/> has completed (the host does not wait).</summary>
    public static void StreamWaitEvent(nint stream, nint e) => Check(cudaStreamWaitEvent(stream, e, 0), "cudaStreamWaitEvent");

    public static double ElapsedMs(nint start, nint end)
    {
        Check(cudaEventElapsedTime(out float ms, start, end), "cudaEventElapsedTime");
        return ms;
    }

    /// <summary>The first GPU's name for a report, or why there is none.</summary>
    public static string DeviceName() =>
        FindDeviceName() ?? (NativeLibrary.TryLoad(Driver, out _) ? "unknown CUDA device" : "no NVIDIA driver");

    /// <summary>The first GPU's name, from the driver API (its entry points, unlike the runtime's device-properties
    /// struct, do not change between CUDA versions); null where there is no NVIDIA driver or it finds no device.</summary>
    public static string? FindDeviceName()
    {
        if (!NativeLibrary.TryLoad(Driver, out _)) return null;
        var name = new byte[256];
        if (cuInit(0) != 0 || cuDeviceGet(out int device, 0) != 0 || cuDeviceGetName(name, name.Length, device) != 0)
            return null;
        return System.Text.Encoding.ASCII.GetString(name, 0, Math.Max(0, Array.IndexOf(name, (byte)0)));
    }

    private delegate int Allocator(out nint pointer, nuint bytes);

    private static nint Allocate(long bytes, Allocator allocate)
    {
        int status = allocate(out var pointer, (nuint)bytes);
        if (status == CudaErrorMemoryAllocation)
            throw new OutOfMemoryException($"CUDA could not allocate {bytes / 1048576.0:0.0} MiB");
        Check(status, "CUDA allocation");
        return pointer;
    }

    private const int CudaErrorMemoryAllocation = 2;

    private static void Check(int status, string what)
    {
        if (status != 0)
            throw new MoeDetectException($"{what} failed: {Marshal.PtrToStringAnsi(cudaGetErrorString(status))} (CUDA error {status})");
    }

    [LibraryImport(Library)] private static partial int cudaMalloc(out nint pointer, nuint bytes);
    [LibraryImport(Library)] private static partial int cudaMallocHost(out nint pointer, nuint bytes);
    [LibraryImport(Library)] private static partial int cudaFree(nint pointer);
    [LibraryImport(Library)] private static partial int cudaFreeHost(nint pointer);
    [LibraryImport(Library)] private static partial int cudaMemcpy(nint destination, nint source, nuint bytes, CopyKind kind);
    [LibraryImport(Library)] private static partial nint cudaGetErrorString(int status);
    [LibraryImport(Library)] private static partial int cudaMemcpyAsync(nint destination, nint source, nuint bytes, CopyKind kind, nint stream);
    [LibraryImport(Library)] private static partial int cudaStreamCreateWithFlags(out nint stream, uint flags);
    [LibraryImport(Library)] private static partial int cudaStreamDestroy(nint stream);
    [LibraryImport(Library)] private static partial int cudaEventCreate(out nint e);
    [LibraryImport(Library)] private static partial int cudaEventDestroy(nint e);
    [LibraryImport(Library)] private static partial int cudaEventRecord(nint e, nint stream);
    [LibraryImport(Library)] private static partial int cudaEventSynchronize(nint e);
    [LibraryImport(Library)] private static partial int cudaStreamWaitEvent(nint stream, nint e, uint flags);
    [LibraryImport(Library)] private static partial int cudaEventElapsedTime(out float ms, nint start, nint end);
    [LibraryImport(Driver)] private static partial int cuInit(uint flags);
    [LibraryImport(Driver)] private static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Driver)] private static partial int cuDeviceGetName([Out] byte[] name, int length, int device);
}
