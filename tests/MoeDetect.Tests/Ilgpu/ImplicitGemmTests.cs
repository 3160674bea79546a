using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Ungrouped convolutions with long reductions, and those too small for the blocked kernel, run as implicit
/// GEMMs on the pointwise GEMM's tiles:
/// the same outputs as the direct kernel with the GPU's launch shapes (64 × 64 and short tiles, split-K, the warp kernel
/// for a few pixels), whatever the stride, padding, dilation and kernel shape, and as ONNX Runtime end to end.
/// Bound: FP32 summation-order noise.</summary>
public sealed class ImplicitGemmTests(ITestOutputHelper log)
{
    private const float Bound = 5e-5f;

    [Theory]
    [InlineData(1, 24, 40, 3, 3, 1, 1, 1, 9, 11)]    // 3×3, padded: 64 × 64 tiles over a partial tile
    [InlineData(2, 16, 8, 3, 3, 2, 1, 1, 13, 10)]    // stride 2, odd size; few out channels: short tiles
    [InlineData(1, 8, 24, 5, 3, 1, 2, 2, 12, 12)]    // 5×3 kernel, dilation 2, padding 2
    [InlineData(1, 96, 32, 3, 3, 1, 1, 1, 6, 6)]     // 864-long reduction on 36 pixels: split-K
    [InlineData(2, 12, 20, 3, 3, 2, 0, 1, 5, 5)]     // 2×2 outputs: the warp kernel
    public void Implicit_gemm_matches_the_direct_kernel_with_gpu_launch_shapes(int batch, int channels, int outChannels,
        int kernelHeight, int kernelWidth, int stride, int pad, int dilation, int height, int width)
    {
        var g = Window(batch, channels, outChannels, kernelHeight, kernelWidth, stride, pad, dilation, height, width);
        using var layer = new GpuShapedLayer(g, seed: 61);
        var planned = layer.Kernels.PlanPointwise(ConvolutionPaths.ImplicitGemm(g));
        using var partials = layer.Accelerator.Allocate1D<float>(Math.Max(1, planned.Slices * (long)layer.Outputs));
        var silu = new Activation(UnaryFunction.Silu);

        var gemm = layer.Pointwise(planned, partials.View, partials.View, silu);
        var direct = layer.Run(ConvolutionPath.Direct, silu);

        float error = gemm.Zip(direct, (a, b) => Math.Abs(a - b)).Max();
        log.WriteLine($"{channels}→{outChannels} {kernelHeight}×{kernelWidth}/{stride} pad {pad} dilation {dilation} at {height}×{width}, " +
            $"{(planned.Tiling == default ? "warp kernel" : planned.Tiling.ToString())}, {planned.Slices} slice(s): max abs error {error:E2}");
        Assert.True(error <= Bound, $"max abs error {error}");
    }

    [Fact]
    public void A_yolo_style_block_matches_onnx_runtime_through_the_implicit_gemm()
    {
        // Conv 3×3/2 + SiLU, then Conv 3×3 + SiLU (as Ultralytics exports them: Sigmoid and Mul), residual Add, which the
        // second GEMM's epilogue does after its SiLU.
        var model = new TinyOnnxGraph().Input("x", 8, 14, 14).Random("w1", 71, 16, 8, 3, 3).Random("b1", 72, 16)
            .Random("w2", 73, 16, 16, 3, 3).Random("b2", 74, 16)
            .Node("Conv", ["x", "w1", "b1"], ["c1"], ("strides", new[] { 2, 2 }), ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Sigmoid", ["c1"], ["s1"]).Node("Mul", ["c1", "s1"], ["a1"])
            .Node("Conv", ["a1", "w2", "b2"], ["c2"], ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Sigmoid", ["c2"], ["s2"]).Node("Mul", ["c2", "s2"], ["a2"]).Node("Add", ["a1", "a2"], ["y"]).Output("y").Build();
        using var engine = IlgpuEngine.Load(model, "yolo block", IlgpuTarget.CpuAccelerator);

        Assert.Equal(["Conv implicitgemm", "Conv implicitgemm"], engine.Profile(batchSize: 2, iterations: 1).Select(s => s.Kind));
        float error = OrtParity.MaxAbsError(model, [2, 8, 14, 14]);
        log.WriteLine($"yolo-style block: max abs error {error:E2}");
        Assert.True(error <= Bound, $"max abs error {error}");
    }

    private static WindowGeometry Window(int batch, int channels, int outChannels, int kernelHeight, int kernelWidth, int stride, int pad,
        int dilation, int height, int width) => new()
    {
        Batch = batch, Channels = channels, Height = height, Width = width, OutChannels = outChannels,
        OutHeight = (height + 2 * pad - (kernelHeight - 1) * dilation - 1) / stride + 1,
        OutWidth = (width + 2 * pad - (kernelWidth - 1) * dilation - 1) / stride + 1,
        KernelHeight = kernelHeight, KernelWidth = kernelWidth, StrideY = stride, StrideX = stride, PadTop = pad, PadLeft = pad,
        DilationY = dilation, DilationX = dilation, Groups = 1,
    };
}
