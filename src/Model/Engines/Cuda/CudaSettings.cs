namespace MoeDetect.Model.Engines.Cuda;

/// <summary>How cuDNN picks convolution algorithms: <c>exhaustive</c> times every one at load (slowest start,
/// fastest run), <c>heuristic</c> asks cuDNN's heuristics, <c>default</c> takes the first that fits.</summary>
public enum ConvolutionSearch { Exhaustive, Heuristic, Default }

/// <summary>How ONNX Runtime's CUDA provider runs convolutions: in the graph's NCHW, in NHWC (its prefer_nhwc: cuDNN's
/// tensor-core convolutions take NHWC, so in NCHW the provider converts every convolution's input and output), or in
/// NHWC with cuDNN adding the bias inside the convolution (fuse_conv_bias, compiled at load). <see cref="Auto"/>: the
/// one <c>moedetect bench</c> measured fastest for the model on this GPU, else NCHW
/// (<see cref="Auto.ConvolutionLayoutChooser"/>).</summary>
public enum ConvolutionLayout { Auto, Nchw, Nhwc, NhwcFusedBias }

/// <summary>The layouts' names on the command line, in bench variant names and in the engine choice file.</summary>
public static class ConvolutionLayouts
{
    /// <summary>The layouts a bench compares where the user leaves the choice to it.</summary>
    public static readonly ConvolutionLayout[] Measurable = [ConvolutionLayout.Nchw, ConvolutionLayout.Nhwc, ConvolutionLayout.NhwcFusedBias];

    public static string Name(ConvolutionLayout layout) => layout switch
    {
        ConvolutionLayout.Nchw => "nchw",
        ConvolutionLayout.Nhwc => "nhwc",
        ConvolutionLayout.NhwcFusedBias => "nhwc-fused-bias",
        _ => "auto",
    };

    public static ConvolutionLayout? Parse(string? name) =>
        Enum.GetValues<ConvolutionLayout>().Cast<ConvolutionLayout?>().FirstOrDefault(l => string.Equals(Name(l!.Value), name, StringComparison.OrdinalIgnoreCase));
}

/// <summary>The ORT CUDA engine's settings. <paramref name="DeviceBinding"/>: inputs and outputs live on the GPU
/// (IOBinding; 8-bit pixels in, normalised there), else ONNX Runtime copies host tensors itself on every run.
/// <paramref name="CudaGraphs"/>: capture the whole run once and replay it (needs <paramref name="DeviceBinding"/>).
/// <paramref name="MemoryLimitMb"/>: cap on ONNX Runtime's GPU memory arena (its gpu_mem_limit); null leaves it unlimited.
/// <paramref name="Layout"/>: how the provider runs convolutions (<see cref="ConvolutionLayout"/>).
/// <paramref name="QueuedRuns"/> (with <paramref name="DeviceBinding"/>): ONNX Runtime runs on a CUDA stream of the
/// engine's (its user_compute_stream) and returns without waiting for the GPU (the run option
/// disable_synchronize_execution_providers), so a batch's copies in and out of the bound buffers and its run are queued
/// on that stream one after the other and the host waits once, for the batch's download. The default: on the H100 it
/// was as fast or faster than waiting for every run in every layout, batch and model measured, with the same detections
/// (<c>docs/results/2026-12-05-h100-queued-runs</c>).</summary>
/// <remarks>Runs on the first GPU (device 0).</remarks>
public sealed record CudaSettings(bool DeviceBinding = true, bool CudaGraphs = true, ConvolutionSearch Search = ConvolutionSearch.Exhaustive,
    int? MemoryLimitMb = null, ConvolutionLayout Layout = ConvolutionLayout.Auto, bool QueuedRuns = true)
{
    public const string QueuedSuffix = "-queued";

    /// <summary>Largest accepted <see cref="MemoryLimitMb"/>: 1 TiB, beyond any GPU.</summary>
    public const int MaxMemoryLimitMb = 1 << 20;

    public string EngineName => (!DeviceBinding ? "ort-cuda-host" : CudaGraphs ? "ort-cuda-iobinding-graph" : "ort-cuda-iobinding") + LayoutSuffix
        + (QueuesRuns ? QueuedSuffix : "");

    /// <summary>Whether runs are queued: <see cref="QueuedRuns"/> where the data is bound on the device and each run is a
    /// CUDA graph replay. Without graphs ONNX Runtime frees page-locked buffers of a run from a callback on the stream,
    /// where CUDA forbids it (on the H100 the process aborted: cudaFreeHost, "operation not permitted").</summary>
    public bool QueuesRuns => QueuedRuns && DeviceBinding && CudaGraphs;

    /// <summary>Names other than NCHW's carry the layout, e.g. ort-cuda-iobinding-graph-nhwc.</summary>
    public string LayoutSuffix => Nhwc ? "-" + ConvolutionLayouts.Name(Layout) : "";

    private bool Nhwc => Layout is ConvolutionLayout.Nhwc or ConvolutionLayout.NhwcFusedBias;

    /// <param name="computeStream">The engine's stream for <see cref="QueuedRuns"/>; 0: ONNX Runtime's own.</param>
    public Dictionary<string, string> ProviderOptions(nint computeStream = 0)
    {
        var options = new Dictionary<string, string>
        {
            ["cudnn_conv_algo_search"] = Search.ToString().ToUpperInvariant(),
            ["enable_cuda_graph"] = CudaGraphs && DeviceBinding ? "1" : "0",
        };
        if (MemoryLimitMb is { } mb) options["gpu_mem_limit"] = (mb * 1024L * 1024L).ToString(System.Globalization.CultureInfo.InvariantCulture);
        // Set only where they change the provider's defaults: no key that an older build might not know.
        if (Nhwc) options["prefer_nhwc"] = "1";
        if (Layout == ConvolutionLayout.NhwcFusedBias) options["fuse_conv_bias"] = "1";
        if (computeStream != 0)
        {
            options["has_user_compute_stream"] = "1";
            options["user_compute_stream"] = ((ulong)computeStream).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return options;
    }
}
