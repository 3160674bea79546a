using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The staged-weights direct convolution (<see cref="StagedWeightsConvolutionKernel"/>) on ILGPU's CPU
/// accelerator against the direct kernel (itself checked against ONNX Runtime, <see cref="BlockedConvolutionTests"/>):
/// the stems of YOLOv8n and CenterNet, a 16-channel 3 × 3 layer, out channels not a whole block, a strided 5 × 5 with
/// dilation and padding, 1 × 1 layers of several blocks a group and of groups of blocks, odd sizes, batch 2, in groups of
/// the GPU's width and of two threads (the engine's CPU device); images read and written where they lie in larger
/// tensors, with a residual; and a bottleneck planned on it against ONNX Runtime. Bound: FP32 summation-order noise.
/// And the kernel as the engine loads it for sm_90.</summary>
public sealed partial class StagedWeightsConvolutionTests(ITestOutputHelper log)
{
    private const float Bound = 2e-5f;

    [Theory]
    [InlineData(3, 16, 3, 2, 1, 1, 131, 133, "hardswish")] // a stem: 3 → 16, 3×3 stride 2
    [InlineData(16, 32, 3, 2, 1, 1, 66, 70, "silu")]       // YOLOv8n's 16 → 32 downsampling: two blocks
    [InlineData(16, 16, 3, 1, 1, 1, 40, 41, "none")]       // a C2f bottleneck's 3×3 at 144 taps
    [InlineData(5, 20, 5, 2, 2, 2, 61, 59, "relu")]        // 5×5, dilation 2; 20 out channels: a block a quarter full
    [InlineData(16, 64, 1, 1, 0, 1, 33, 35, "relu")]       // CenterNet's 16 → 64 expansion: four blocks in one group
    [InlineData(40, 70, 1, 1, 0, 1, 17, 19, "none")]       // five blocks, four a group: a second group of one
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
    public void Short_reductions_and_narrow_pointwise_layers_get_the_staged_kernel_as_a_candidate_where_its_stage_holds_them()
    {
        // YOLOv8n's 16 → 32 downsampling at batch 32, which the rule gives the blocked kernel.
        var g = new WindowGeometry
        {
            Batch = 32, Channels = 16, Height = 320, Width = 320, OutChannels = 32, OutHeight = 160, OutWidth = 160, Groups = 1,
            KernelHeight = 3, KernelWidth = 3, StrideY = 2, StrideX = 2, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1,
        };
        Assert.True(StagedWeightsConvolutionKernel.Fits(g));
        Assert.False(StagedWeightsConvolutionKernel.Fits(g with { Groups = 2, Channels = 8 }));
        Assert.Equal([ConvolutionPath.Blocked, ConvolutionPath.StagedWeights, ConvolutionPath.ImplicitGemm], LaunchTuner.ShortReductionCandidates(g));
        // 24 channels of 3 × 3: still the blocked kernel's by rule, past the stage's 160 taps.
        Assert.Equal([ConvolutionPath.Blocked, ConvolutionPath.ImplicitGemm], LaunchTuner.ShortReductionCandidates(g with { Channels = 24 }));
        var pointwise = g with { KernelHeight = 1, KernelWidth = 1, StrideY = 1, StrideX = 1, PadTop = 0, PadLeft = 0, OutHeight = 320, OutWidth = 320 };
        Assert.Equal([ConvolutionPath.StagedWeights, ConvolutionPath.Pointwise], LaunchTuner.ShortReductionCandidates(pointwise));
        Assert.Equal([ConvolutionPath.Pointwise], LaunchTuner.ShortReductionCandidates(pointwise with { Channels = 192 }));
    }

    [Fact]
    public void Images_lying_apart_in_larger_tensors_are_read_and_written_where_they_lie_and_the_residual_is_added_after_the_activation()
    {
        var g = new WindowGeometry
        {
            Batch = 2, Channels = 6, Height = 9, Width = 11, OutChannels = 20, OutHeight = 9, OutWidth = 11, Groups = 1, KernelHeight = 3, KernelWidth = 3,
            StrideY = 1, StrideX = 1, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1,
        };
        int inImage = g.Channels * g.Height * g.Width, outImage = g.OutChannels * g.OutHeight * g.OutWidth;
        // Input images 2 · inImage apart (a channel range of a tensor twice as wide), outputs and residual 3 · outImage apart.
        var strides = new ImageStrides { Input = 2 * inImage, Output = 3 * outImage, Residual = 3 * outImage, AddsResidual = 1 };
        var x = TinyOnnxGraph.RandomValues(51, 2 * strides.Input);
        var residual = TinyOnnxGraph.RandomValues(52, 2 * strides.Residual);
        var w = TinyOnnxGraph.RandomValues(53, g.OutChannels * g.Channels * 9);
        var bias = TinyOnnxGraph.RandomValues(54, g.OutChannels);
        using var layer = new GpuShapedLayer(g, seed: 1, new CPUDevice(32, 4, 1));
        var accelerator = layer.Accelerator;
        using var xs = accelerator.Allocate1D(x);
        using var rs = accelerator.Allocate1D(residual);
        using var ws = accelerator.Allocate1D(w);
        using var bs = accelerator.Allocate1D(bias);
        using var ys = accelerator.Allocate1D<float>(2 * strides.Output);
        ys.MemSetToZero();
        using var contiguous = accelerator.Allocate1D<float>(2 * inImage);
        using var direct = accelerator.Allocate1D<float>(2 * outImage);
        for (int n = 0; n < 2; n++) xs.View.SubView(n * strides.Input, inImage).CopyTo(contiguous.View.SubView(n * inImage, inImage));
        var relu = new Activation(UnaryFunction.Relu);

        layer.Kernels.StagedWeightsConvolution(xs.View, ws.View, bs.View, rs.View, ys.View, g, strides, relu);
        ConvolutionPaths.Launch(layer.Kernels, ConvolutionPath.Direct, contiguous.View, contiguous.View, ws.View, bs.View, direct.View, g, relu);
        accelerator.Synchronize();

        var (y, expected) = (ys.GetAsArray1D(), direct.GetAsArray1D());
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < outImage; i++)
                Assert.Equal(expected[n * outImage + i] + residual[n * strides.Residual + i], y[n * strides.Output + i], 5);
        Assert.All(y.Skip(outImage).Take(strides.Output - outImage), v => Assert.Equal(0f, v)); // between the images: untouched
    }

    /// <summary>A YOLOv8 C2f block (1 × 1, Split, two 3 × 3 with the skip connection, Concat, 1 × 1) at batch 2 planned
    /// with every convolution on the staged kernel: the launch search's answers given in a choice file, as a former
    /// process on a GPU would have left them. The second half of the Split is read where it lies, the skip is added in the
    /// last 3 × 3's store, which writes into the Concat's output; against ONNX Runtime.</summary>
    [Fact]
    public void A_bottleneck_planned_on_the_staged_kernel_matches_onnx_runtime()
    {
        const int size = 96;
        var model = new TinyOnnxGraph().Input("x", 16, size, size)
            .Random("w1", 61, 32, 16, 1, 1).Random("b1", 62, 32).Random("w2", 63, 16, 16, 3, 3).Random("b2", 64, 16)
            .Random("w3", 65, 16, 16, 3, 3).Random("b3", 66, 16).Random("w4", 67, 32, 48, 1, 1).Random("b4", 68, 32)
            .Node("Conv", ["x", "w1", "b1"], ["c1"]).Node("Relu", ["c1"], ["a1"])
            .Node("Split", ["a1"], ["s0", "s1"], ("axis", 1))
            .Node("Conv", ["s1", "w2", "b2"], ["c2"], ("pads", new[] { 1, 1, 1, 1 })).Node("Relu", ["c2"], ["a2"])
            .Node("Conv", ["a2", "w3", "b3"], ["c3"], ("pads", new[] { 1, 1, 1, 1 })).Node("Relu", ["c3"], ["a3"])
            .Node("Add", ["a3", "s1"], ["y3"])
            .Node("Concat", ["s0", "s1", "y3"], ["cat"], ("axis", 1))
            .Node("Conv", ["cat", "w4", "b4"], ["y"]).Output("y").Build();
        int[] shape = [2, 16, size, size];
        var window = new WindowGeometry
        {
            Batch = 2, Channels = 16, Height = size, Width = size, OutChannels = 32, OutHeight = size, OutWidth = size, Groups = 1,
            KernelHeight = 1, KernelWidth = 1, StrideY = 1, StrideX = 1, DilationY = 1, DilationX = 1,
        };
        var threeByThree = window with { OutChannels = 16, KernelHeight = 3, KernelWidth = 3, PadTop = 1, PadLeft = 1 };
        string choices = Path.Combine(Path.GetTempPath(), $"moedetect-staged-{Guid.NewGuid():N}.json");
        try
        {
            var file = LaunchChoiceFile.Open(choices, "test", _ => { });
            foreach (var g in new[] { window, threeByThree, window with { Channels = 48 } })
                Assert.Equal(ConvolutionPath.StagedWeights,
                    file.Choose("short reduction", g, LaunchTuner.ShortReductionCandidates(g), _ => ConvolutionPath.StagedWeights));
            // Groups of the GPU's 128 threads: the kernel's barrier once a group, not once every two pixels.
            using var device = IlgpuDevice.Open(IlgpuTarget.CpuAcceleratorEmulatedTensorCores);
            using var constants = new ConstantCache(device.Accelerator);
            var kernels = new KernelLibrary(device.Accelerator, device.Stream);
            kernels.Tuner = new LaunchTuner(kernels, _ => { }, file);
            using var plan = OperatorCompiler.Build(IlgpuEngine.PrepareGraph(model, "test", outputNames: null), kernels, constants, shape);
            var input = TinyOnnxGraph.RandomValues(69, shape.Aggregate(1, (a, b) => a * b));
            var y = new float[2 * 32 * size * size];
            plan.Run(view => DeviceMemory.Upload(view, input), [y]);

            var kinds = plan.Steps.Steps.Select(step => step.Kind).ToList();
            Assert.Equal(4, kinds.Count(k => k == "Conv stagedweights"));
            Assert.DoesNotContain("Add", kinds);
            var expected = OrtParity.RunOrt(model, shape, input)["y"].Values;
            float largest = expected.Max(Math.Abs), error = expected.Zip(y, (e, a) => Math.Abs(e - a)).Max();
            log.WriteLine($"C2f block on the staged kernel: max abs error {error:E2} against ONNX Runtime (largest output {largest:F1})");
            Assert.True(error <= 1e-5f * largest, $"max abs error {error} (largest output {largest})");
        }
        finally
        {
            File.Delete(choices);
        }
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
        Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, ImageStrides, Activation> kernel =
            StagedWeightsConvolutionKernel.Run<PtxIsa>;
        string ptx = KernelLoader.PromotedTensorCorePtx(compiler.ExplicitlyGrouped(kernel.Method));

        Assert.Equal(4, QuadLoad().Count(ptx));
        Assert.DoesNotMatch(LocalMemory(), ptx);
        var stage = AlignedStage().Match(ptx);
        Assert.True(stage.Success, "the stage is declared 16-byte aligned");
        Assert.Equal(4 * StagedWeightsConvolutionKernel.MaxTaps * StagedWeightsConvolutionKernel.OutBlock, int.Parse(stage.Groups["bytes"].Value));
    }
}
