using System.Runtime.InteropServices;

namespace MoeDetect.Model.Engines.Cuda;

/// <summary>What ONNX Runtime's CUDA provider (1.31, built for CUDA 13 and cuDNN 9) needs on the machine, checked
/// before a session is made so that a missing piece is named with how to install it, instead of surfacing as a
/// dlopen error deep in ONNX Runtime.</summary>
public static class CudaLibraries
{
    public const string ProviderFile = "libonnxruntime_providers_cuda.so";
    internal const string Runtime = "libcudart.so.13";

    private const string CudaHint = "install the CUDA 13 runtime libraries (NVIDIA's apt repository: `apt install cuda-libraries-13-0`) " +
        "or add their folder (e.g. /usr/local/cuda-13.0/targets/x86_64-linux/lib) to LD_LIBRARY_PATH";

    /// <summary>In load order: the driver first, cuDNN last (ONNX Runtime opens it only when a convolution runs).</summary>
    public static readonly IReadOnlyList<(string Library, string Install)> Required =
    [
        ("libcuda.so.1", "install the NVIDIA driver (no driver, or no GPU: `nvidia-smi` should list one)"),
        (Runtime, CudaHint),
        ("libcublasLt.so.13", CudaHint),
        ("libcublas.so.13", CudaHint),
        ("libcurand.so.10", CudaHint),
        ("libcudnn.so.9", "install cuDNN 9 for CUDA 13 (`apt install libcudnn9-cuda-13`) or add its folder to LD_LIBRARY_PATH"),
    ];

    /// <summary>Null when everything loads; otherwise one line naming the first missing piece and how to get it.</summary>
    public static string? FindMissing(string applicationFolder) =>
        FindMissing(applicationFolder, Required);

    public static string? FindMissing(string applicationFolder, IEnumerable<(string Library, string Install)> required)
    {
        if (!ProviderShipped(applicationFolder))
            return $"this build of MoeDetect has no CUDA provider ({ProviderFile}); use the GPU build " +
                   "(`dotnet publish src/Cli -p:MoeDetectGpu=true`)";
        foreach (var (library, install) in required)
        {
            if (!NativeLibrary.TryLoad(library, out var handle))
                return $"{library} not found: {install}";
            NativeLibrary.Free(handle);
        }
        return null;
    }

    /// <summary>Build output keeps native libraries under runtimes/&lt;rid&gt;/native; a RID-specific publish puts them
    /// beside the program.</summary>
    public static bool ProviderShipped(string applicationFolder) =>
        File.Exists(Path.Combine(applicationFolder, ProviderFile))
        || File.Exists(Path.Combine(applicationFolder, "runtimes", "linux-x64", "native", ProviderFile));
}
