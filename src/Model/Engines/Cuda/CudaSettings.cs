namespace MoeDetect.Model.Engines.Cuda;

/// <summary>How cuDNN picks convolution algorithms: <c>exhaustive</c> times every one at load (slowest start,
/// fastest run), <c>heuristic</c> asks cuDNN's heuristics, <c>default</c> takes the first that fits.</summary>
public enum ConvolutionSearch { Exhaustive, Heuristic, Default }

/// <summary>The tensor layout ONNX Runtime's CUDA provider runs convolutions (and the operators between them) in.</summary>
public enum ConvolutionLayout { Nchw, Nhwc }

/// <summary>The ORT CUDA engine's settings. <paramref name="DeviceBinding"/>: inputs and outputs live on the GPU
/// (IOBinding; 8-bit pixels in, normalised there), else ONNX Runtime copies host tensors itself on every run.
/// <paramref name="CudaGraphs"/>: capture the whole run once and replay it (needs <paramref name="DeviceBinding"/>).
/// <paramref name="MemoryLimitMb"/>: cap on ONNX Runtime's GPU memory arena (its gpu_mem_limit); null leaves it unlimited.
/// <paramref name="Layout"/>: the layout the provider runs convolutions in (its prefer_nhwc); in NCHW, cuDNN's fastest
/// convolutions on tensor cores are NHWC and the provider converts every convolution's input and output around them.
/// <paramref name="FuseConvolutionBias"/>: cuDNN adds the bias inside the convolution (its fuse_conv_bias) instead of
/// in a pass of its own.</summary>
/// <remarks>Runs on the first GPU (device 0).</remarks>
public sealed record CudaSettings(bool DeviceBinding = true, bool CudaGraphs = true, ConvolutionSearch Search = ConvolutionSearch.Exhaustive,
    int? MemoryLimitMb = null, ConvolutionLayout Layout = ConvolutionLayout.Nchw, bool FuseConvolutionBias = false)
{
    /// <summary>Largest accepted <see cref="MemoryLimitMb"/>: 1 TiB, beyond any GPU.</summary>
    public const int MaxMemoryLimitMb = 1 << 20;

    public string EngineName => !DeviceBinding ? "ort-cuda-host" : CudaGraphs ? "ort-cuda-iobinding-graph" : "ort-cuda-iobinding";

    public Dictionary<string, string> ProviderOptions()
    {
        var options = new Dictionary<string, string>
        {
            ["cudnn_conv_algo_search"] = Search.ToString().ToUpperInvariant(),
            ["enable_cuda_graph"] = CudaGraphs && DeviceBinding ? "1" : "0",
        };
        if (MemoryLimitMb is { } mb) options["gpu_mem_limit"] = (mb * 1024L * 1024L).ToString(System.Globalization.CultureInfo.InvariantCulture);
        // Set only when asked for: the provider's defaults need no key that an older build might not know.
        if (Layout == ConvolutionLayout.Nhwc) options["prefer_nhwc"] = "1";
        if (FuseConvolutionBias) options["fuse_conv_bias"] = "1";
        return options;
    }
}
