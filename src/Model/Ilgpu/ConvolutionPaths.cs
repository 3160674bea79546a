using ILGPU;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Which kernel runs a convolution of a given geometry.</summary>
internal enum ConvolutionPath { Pointwise, Depthwise, DepthwiseRows, DepthwiseTiled, Blocked, StagedWeights, ImplicitGemm, Direct }

/// <summary>Chooses and launches the convolution kernel for a geometry: 1×1 stride-1 ungrouped unpadded convolutions
/// as a tiled GEMM (FP32 SIMT, or TF32 tensor cores where the launch search finds them faster), depthwise ones with the multi-output depthwise kernel,
/// other ungrouped ones as an implicit GEMM on the pointwise GEMM's tiles (each input value loaded once per tile is
/// used for up to 64 output channels, where the direct kernel reads it again for every output), except short
/// reductions into few channels (the 3×3 stem, NanoDet's 16- and 32-channel 3×3s), which take 8 output channels a
/// thread where the channels divide into such blocks and the threads fill a GPU; the rest (grouped) the direct kernel.</summary>
internal static class ConvolutionPaths
{
    public static ConvolutionPath Of(WindowGeometry g)
    {
        bool unitWindow = g.KernelHeight == 1 && g.KernelWidth == 1 && g.StrideY == 1 && g.StrideX == 1
            && g.PadTop == 0 && g.PadLeft == 0 && g.OutHeight == g.Height && g.OutWidth == g.Width;
        if (unitWindow && g.Groups == 1) return ConvolutionPath.Pointwise;
        // The shared-memory depthwise kernel lost to the span kernel on the H100 (CenterNet, batch 32: 6.6 against 4.2 ms
        // over its 26 depthwise layers), so it runs only where the launch search times it faster (KernelLibrary.PlanPath).
        if (g.Groups == g.Channels && g.OutChannels == g.Channels)
            return DepthwiseRowsKernel.Fits(g) ? ConvolutionPath.DepthwiseRows : ConvolutionPath.Depthwise;
        if (g.Groups == 1 && FillsGemmTiles(g)) return ConvolutionPath.ImplicitGemm;
        if (BlockedConvolutionKernel.Fits(g)) return ConvolutionPath.Blocked;
        return g.Groups == 1 ? ConvolutionPath.ImplicitGemm : ConvolutionPath.Direct;
    }

    /// <summary>Reductions of at least 288 (32 channels × 3×3) into at least 32 out channels: there the implicit GEMM
    /// beat the blocked kernel on every NanoDet-g layer of the H200 kernel bench at batch 1 and 32 (up to 1.85×, 128 → 128
    /// at 52×52: 4.41 → 2.39 ms at batch 32), and tied within 3 % at the smallest (32 → 32, 64 → 32); the stem
    /// (3 → 32), 32 → 16 and 16 → 16 stayed faster blocked (docs/results/2026-12-05-h200).</summary>
    private static bool FillsGemmTiles(WindowGeometry g) =>
        g.Channels * g.KernelHeight * g.KernelWidth >= 288 && g.OutChannels >= 32;

    public static bool IsDepthwise(ConvolutionPath path) =>
        path is ConvolutionPath.Depthwise or ConvolutionPath.DepthwiseRows or ConvolutionPath.DepthwiseTiled;

    /// <summary>The GEMM of a pointwise convolution: no residual, no input scale, one slice of all channels.</summary>
    public static PointwiseGeometry Pointwise(WindowGeometry g) =>
        new() { Batch = g.Batch, Channels = g.Channels, OutChannels = g.OutChannels, Pixels = g.Height * g.Width, Slices = 1, SliceChannels = g.Channels };

    /// <summary>The implicit GEMM of an ungrouped convolution: a reduction over channels × kernel taps, a column per
    /// output pixel, one slice.</summary>
    public static PointwiseGeometry ImplicitGemm(WindowGeometry g)
    {
        int reduction = g.Channels * g.KernelHeight * g.KernelWidth;
        int taps = g.KernelHeight * g.KernelWidth, pixels = g.OutHeight * g.OutWidth;
        return new() { Batch = g.Batch, Channels = reduction, OutChannels = g.OutChannels, Pixels = pixels, Slices = 1,
            SliceChannels = reduction, Windowed = 1, Window = g,
            ByTaps = FastDivisor.For(taps, reduction - 1), ByKernelWidth = FastDivisor.For(g.KernelWidth, taps - 1),
            ByWindowChannels = FastDivisor.For(g.Channels, reduction - 1),
            ByOutWidth = FastDivisor.For(g.OutWidth, pixels - 1) };
    }

    /// <summary>The GEMM a GEMM path runs g as, before tiling and split-K.</summary>
    public static PointwiseGeometry Gemm(ConvolutionPath path, WindowGeometry g) => path == ConvolutionPath.ImplicitGemm ? ImplicitGemm(g) : Pointwise(g);

    /// <summary>Multiply-adds × 2 of the convolution (for TFLOP/s figures).</summary>
    public static double Flops(WindowGeometry g) =>
        2.0 * g.Batch * g.OutChannels * g.OutHeight * g.OutWidth * (g.Channels / g.Groups) * g.KernelHeight * g.KernelWidth;

    /// <summary>The convolution alone on its path; the pointwise GEMM unsplit, with no residual or input scale (plans
    /// call <see cref="KernelLibrary.PointwiseConvolution"/> themselves for those). <paramref name="scale"/>: the
    /// depthwise path's input scale where g says so.</summary>
    public static void Launch(KernelLibrary kernels, ConvolutionPath path, ArrayView<float> x, ArrayView<float> scale,
        ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, WindowGeometry g, Activation activation)
    {
        switch (path)
        {
            case ConvolutionPath.Pointwise or ConvolutionPath.ImplicitGemm:
                kernels.PointwiseConvolution(x, x, w, bias, y, y, y, Gemm(path, g), activation); break;
            case ConvolutionPath.Depthwise: kernels.DepthwiseConvolution(x, scale, w, bias, y, g, activation); break;
            case ConvolutionPath.DepthwiseRows: kernels.DepthwiseRowsConvolution(x, scale, w, bias, y, g, activation); break;
            case ConvolutionPath.DepthwiseTiled: kernels.DepthwiseTiledConvolution(x, scale, w, bias, y, g, activation); break;
            case ConvolutionPath.Blocked: kernels.BlockedConvolution(BlockedConvolutionKernel.Threads(g), x, w, bias, y, g, activation); break;
            case ConvolutionPath.StagedWeights: kernels.StagedWeightsConvolution(x, w, bias, y, y, g, default, activation); break;
            default: kernels.Convolution((int)((long)g.Batch * g.OutChannels * g.OutHeight * g.OutWidth), x, w, bias, y, g, activation); break;
        }
    }
}
