using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The blocked direct convolution (8 output channels a thread; ungrouped windows that are not pointwise, with
/// enough output to fill a GPU) against ONNX Runtime (CPU) on ILGPU's CPU accelerator: CenterNet's stem, YOLO-shaped
/// 3×3 layers, a strided 5×5 with dilation, asymmetric padding, odd sizes, batch 2. Bound: FP32 summation-order noise.</summary>
public sealed class BlockedConvolutionTests(ITestOutputHelper log)
{
    private const float Bound = 2e-5f;

    [Theory]
    [InlineData(3, 16, 3, 2, 1, 1, 257, 261, "hardswish")] // the stem: 3 → 16, 3×3 stride 2
    [InlineData(24, 32, 3, 1, 1, 1, 65, 67, "relu")]       // a C2f bottleneck's 3×3
    [InlineData(16, 24, 3, 2, 1, 1, 150, 151, "none")]     // a downsampling 3×3
    [InlineData(5, 8, 5, 2, 2, 2, 300, 301, "none")]       // 5×5, stride 2, dilation 2
    public void Blocked_convolution_matches_onnx_runtime(int channels, int outChannels, int kernel, int stride, int pad, int dilation,
        int height, int width, string activation)
    {
        var graph = new TinyOnnxGraph(opset: 14).Input("x", channels, height, width).Random("w", 31, outChannels, channels, kernel, kernel)
            .Random("b", 32, outChannels)
            .Node("Conv", ["x", "w", "b"], [activation == "none" ? "y" : "c"], ("strides", new[] { stride, stride }),
                ("pads", new[] { pad, pad, pad + 1, pad }), ("dilations", new[] { dilation, dilation }));
        if (activation == "relu") graph.Node("Relu", ["c"], ["y"]);
        if (activation == "hardswish") graph.Node("HardSwish", ["c"], ["y"]);
        int span = dilation * (kernel - 1) + 1;
        var g = new WindowGeometry
        {
            Batch = 2, Channels = channels, OutChannels = outChannels, Groups = 1, KernelHeight = kernel, KernelWidth = kernel,
            OutHeight = (height + 2 * pad + 1 - span) / stride + 1, OutWidth = (width + 2 * pad - span) / stride + 1,
        };
        Assert.Equal(ConvolutionPath.Blocked, ConvolutionPaths.Of(g));

        float error = OrtParity.MaxAbsError(graph.Output("y").Build(), [2, channels, height, width], scale: 1f);

        log.WriteLine($"{kernel}×{kernel}/{stride} dilation {dilation}, {channels}→{outChannels} at {height}×{width} + {activation}: max abs error {error:E2}");
        Assert.True(error <= Bound, $"max abs error {error} exceeds {Bound}");
    }

    [Fact]
    public void Long_reductions_into_many_channels_take_the_implicit_gemm_at_any_batch()
    {
        // YOLOv8n's 256 → 80 at 20 × 20; NanoDet's 32 → 16 at 104 × 104 stays blocked where it fills a GPU.
        var g = new WindowGeometry { Batch = 1, Channels = 256, OutChannels = 80, Groups = 1, KernelHeight = 3, KernelWidth = 3, StrideX = 1, StrideY = 1,
            Height = 20, Width = 20, OutHeight = 20, OutWidth = 20, PadTop = 1, PadLeft = 1, DilationX = 1, DilationY = 1 };
        Assert.Equal(ConvolutionPath.ImplicitGemm, ConvolutionPaths.Of(g));
        Assert.Equal(ConvolutionPath.ImplicitGemm, ConvolutionPaths.Of(g with { Batch = 32 }));
        var narrow = g with { Channels = 32, OutChannels = 16, Height = 104, Width = 104, OutHeight = 104, OutWidth = 104 };
        Assert.Equal(ConvolutionPath.Blocked, ConvolutionPaths.Of(narrow with { Batch = 32 }));
        Assert.Equal(ConvolutionPath.ImplicitGemm, ConvolutionPaths.Of(narrow with { Channels = 64, OutChannels = 32 }));
    }
}
