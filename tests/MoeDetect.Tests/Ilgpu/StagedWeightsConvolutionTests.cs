using System.Text.RegularExpressions;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The staged-weights direct convolution (<see cref="StagedWeightsConvolutionKernel"/>) on ILGPU's CPU
/// accelerator against the direct kernel (itself checked against ONNX Runtime, <see cref="BlockedConvolutionTests"/>):
/// the stems of YOLOv8n and CenterNet, a 16-channel 3 × 3 layer, out channels not a whole block, a strided 5 × 5 with
/// dilation and padding, odd sizes, batch 2, in groups of the GPU's width and of two threads (the engine's CPU
/// device). Bound: FP32 summation-order noise. And the kernel as the engine loads it for sm_90.</summary>
public sealed partial class StagedWeightsConvolutionTests(ITestOutputHelper log)
{
    private const float Bound = 2e-5f;

    [Theory]
    [InlineData(3, 16, 3, 2, 1, 1, 131, 133, "hardswish")] // a stem: 3 → 16, 3×3 stride 2
    [InlineData(16, 32, 3, 2, 1, 1, 66, 70, "silu")]       // YOLOv8n's 16 → 32 downsampling: two blocks
    [InlineData(16, 16, 3, 1, 1, 1, 40, 41, "none")]       // a C2f bottleneck's 3×3 at 144 taps
    [InlineData(5, 20, 5, 2, 2, 2, 61, 59, "relu")]        // 5×5, dilation 2; 20 out channels: a block a quarter full
    public void Staged_weights_convolution_matches_the_direct_kernel(int channels, int outChannels, int kernel, int stride, int pad, int dilation,
        int height, int width, string activation)
    {
        int span = dilation * (kernel - 1) + 1;
        var g = new WindowGeometry
        {
            Batch = 2, Channels = channels, Height = height, Width = width, OutChannels = outChannels, Groups = 1, KernelHeight = kernel, KernelWidth = kernel,
            StrideY = stride, StrideX = stride, PadTop = pad, PadLeft = pad, DilationY = dilation, DilationX = dilation,
            OutHeight = (height + 2 * pad - span) / stride + 1, OutWidth = (width + 2 * pad - span) / stride + 1,
        };
        Assert.True(StagedWeightsConvolutionKernel.Fits(g));
        var fused = activation == "hardswish" ? new Activation(UnaryFunction.HardSwish, 1f / 6, 0.5f) : new Activation(activation switch
        {
            "silu" => UnaryFunction.Silu, "relu" => UnaryFunction.Relu, _ => UnaryFunction.Identity,
        });
        foreach (var (groupSize, device) in new[] { (128, new CPUDevice(32, 4, 1)), (2, new CPUDevice(2, 1, 1)) })
        {
            using var layer = new GpuShapedLayer(g, seed: 41, device);
            var expected = layer.Run(ConvolutionPath.Direct, fused);
            var actual = layer.Run(ConvolutionPath.StagedWeights, fused);
            float error = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            log.WriteLine($"{kernel}×{kernel}/{stride}, {channels}→{outChannels} at {height}×{width} + {activation}, {groupSize}-thread groups: max abs error {error:E2}");
            Assert.True(error <= Bound, $"max abs error {error} exceeds {Bound}");
        }
    }

    [Fact]
    public void Reductions_past_the_stage_and_grouped_convolutions_are_not_taken()
    {
        var g = new WindowGeometry { Batch = 1, Channels = 16, OutChannels = 32, Groups = 1, KernelHeight = 3, KernelWidth = 3 };
        Assert.True(StagedWeightsConvolutionKernel.Fits(g));
        Assert.False(StagedWeightsConvolutionKernel.Fits(g with { Channels = 32 }));
        Assert.False(StagedWeightsConvolutionKernel.Fits(g with { Groups = 2, Channels = 8 }));
        Assert.Equal([ConvolutionPath.Blocked, ConvolutionPath.StagedWeights, ConvolutionPath.ImplicitGemm], LaunchTuner.ShortReductionCandidates(g));
        Assert.Equal([ConvolutionPath.Blocked, ConvolutionPath.ImplicitGemm], LaunchTuner.ShortReductionCandidates(g with { Channels = 32 }));
    }

    [GeneratedRegex(@"^\s+ld\.shared\.v4\.f32 ", RegexOptions.Multiline)]
    private static partial Regex QuadLoad();

    [GeneratedRegex(@"\.local\b|\bst\.local|\bld\.local")]
    private static partial Regex LocalMemory();

    [GeneratedRegex(@"\.shared \.align 16 \.b8 __shared_alloca0\[(?<bytes>\d+)\]")]
    private static partial Regex AlignedStage();

    [Fact]
    public void As_loaded_for_sm_90_a_tap_reads_its_weights_in_four_16_byte_shared_loads_and_nothing_stays_in_local_memory()
    {
        using var compiler = new SmPtxCompiler();
        Action<ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, WindowGeometry, Activation> kernel =
            StagedWeightsConvolutionKernel.Run<PtxIsa>;
        string ptx = KernelLoader.PromotedTensorCorePtx(compiler.ExplicitlyGrouped(kernel.Method));

        Assert.Equal(4, QuadLoad().Count(ptx));
        Assert.DoesNotMatch(LocalMemory(), ptx);
        var stage = AlignedStage().Match(ptx);
        Assert.True(stage.Success, "the stage is declared 16-byte aligned");
        Assert.Equal(4 * StagedWeightsConvolutionKernel.MaxTaps * StagedWeightsConvolutionKernel.OutBlock, int.Parse(stage.Groups["bytes"].Value));
    }
}
