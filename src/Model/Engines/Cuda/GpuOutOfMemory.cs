namespace MoeDetect.Model.Engines.Cuda;

/// <summary>Recognises the ways running out of GPU memory surfaces (CUDA, cuBLAS, cuDNN, ONNX Runtime's arena) and
/// turns them into the one thing a user can do about it: a smaller batch.</summary>
public static class GpuOutOfMemory
{
    private static readonly string[] Signs =
        ["out of memory", "Failed to allocate memory", "is smaller than requested bytes", "cudaErrorMemoryAllocation", "CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED"];

    public static bool Matches(Exception e) =>
        e is OutOfMemoryException || Signs.Any(s => e.Message.Contains(s, StringComparison.OrdinalIgnoreCase));

    public static MoeDetectException Error(int batch, Exception e) =>
        new($"out of GPU memory with batches of {batch} frames: lower --batch (try --batch {Math.Max(1, batch / 2)})", e);
}
