using System.Runtime.InteropServices;

namespace MoeDetect.Model.Engines.Cuda;

/// <summary>The few CUDA runtime calls the device engine needs beyond ONNX Runtime: device and page-locked host
/// allocations, and copies between them. Bound to the libcudart that ONNX Runtime's CUDA provider itself loads,
/// so it exists wherever that provider runs.</summary>
public static partial class CudaRuntime
{
    private const string Library = CudaLibraries.Runtime;

    private enum CopyKind { HostToDevice = 1, DeviceToHost = 2 }

    public static nint AllocateDevice(long bytes) => Allocate(bytes, cudaMalloc);

    /// <summary>Page-locked host memory: the GPU copies it by DMA, without a staging copy by the driver.</summary>
    public static nint AllocatePinnedHost(long bytes) => Allocate(bytes, cudaMallocHost);

    public static void FreeDevice(nint pointer) => Check(cudaFree(pointer), "cudaFree");

    public static void FreePinnedHost(nint pointer) => Check(cudaFreeHost(pointer), "cudaFreeHost");

    public static void CopyToDevice(nint source, nint destination, long bytes) =>
        Check(cudaMemcpy(destination, source, (nuint)bytes, CopyKind.HostToDevice), "cudaMemcpy to the device");

    public static void CopyToHost(nint source, nint destination, long bytes) =>
        Check(cudaMemcpy(destination, source, (nuint)bytes, CopyKind.DeviceToHost), "cudaMemcpy to the host");

    public static string DeviceName()
    {
        // cudaDeviceProp begins with char name[256]; the rest of the (large, version-dependent) struct is ignored.
        var properties = new byte[4096];
        Check(cudaGetDeviceProperties(properties, 0), "cudaGetDeviceProperties");
        return System.Text.Encoding.ASCII.GetString(properties, 0, Math.Max(0, Array.IndexOf(properties, (byte)0, 0, 256)));
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
    [LibraryImport(Library)] private static partial int cudaGetDeviceProperties([Out] byte[] properties, int device);
}
