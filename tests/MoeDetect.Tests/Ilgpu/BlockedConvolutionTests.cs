using MoeDetect.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The blocked direct convolution (8 output channels a thread; ungrouped windows that are not pointwise)
/// against ONNX Runtime (CPU) on ILGPU's CPU accelerator: CenterNet's stem, YOLO-shaped 3×3 layers, a strided 5×5
/// with dilation and asymmetric padding, odd sizes, batch 2. Bound: FP32 summation-order noise.</summary>
public sealed class BlockedConvolutionTests(ITestOutputHelper log)
{
    private const float Bound = 2e-5f;

    [Theory]
    [InlineData(3, 16, 3, 2, 1, 1, 37, 41, "hardswish")] // the stem: 3 → 16, 3×3 stride 2
    [InlineData(24, 32, 3, 1, 1, 1, 13, 9, "relu")]       // a C2f bottleneck's 3×3
    [InlineData(16, 24, 3, 2, 1, 1, 17, 20, "none")]      // a downsampling 3×3
    [InlineData(5, 8, 5, 2, 2, 2, 19, 23, "none")]        // 5×5, stride 2, dilation 2
    public void Blocked_convolution_matches_onnx_runtime(int channels, int outChannels, int kernel, int stride, int pad, int dilation,
        int height, int width, string activation)
    {
        var graph = new TinyOnnxGraph(opset: 14).Input("x", channels, height, width).Random("w", 31, outChannels, channels, kernel, kernel)
            .Random("b", 32, outChannels)
            .Node("Conv", ["x", "w", "b"], [activation == "none" ? "y" : "c"], ("strides", new[] { stride, stride }),
                ("pads", new[] { pad, pad, pad + 1, pad }), ("dilations", new[] { dilation, dilation }));
        if (activation == "relu") graph.Node("Relu", ["c"], ["y"]);
        if (activation == "hardswish") graph.Node("HardSwish", ["c"], ["y"]);

        float error = OrtParity.MaxAbsError(graph.Output("y").Build(), [2, channels, height, width], scale: 1f);

        log.WriteLine($"{kernel}×{kernel}/{stride} dilation {dilation}, {channels}→{outChannels} at {height}×{width} + {activation}: max abs error {error:E2}");
        Assert.True(error <= Bound, $"max abs error {error} exceeds {Bound}");
    }
}
