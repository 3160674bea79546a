using Xunit;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The pointwise (tiled GEMM) and depthwise convolution paths against ONNX Runtime (CPU), with channel
/// counts, kernel sizes and strides of MobileNetV3-CenterNet's layers and odd spatial sizes (partial tiles), batch 2,
/// on ILGPU's CPU accelerator. Bound: FP32 summation-order noise.</summary>
public sealed class ConvolutionPathTests(ITestOutputHelper log)
{
    private const float Bound = 2e-5f;

    private void AssertParity(string what, byte[] model, int[] inputShape, float scale = 1f)
    {
        float error = OrtParity.MaxAbsError(model, inputShape, scale: scale);
        log.WriteLine($"{what}: max abs error {error:E2}");
        Assert.True(error <= Bound, $"{what}: max abs error {error} exceeds {Bound}");
    }

    [Theory]
    [InlineData(16, 64, 24, 33, "relu")]      // expansion, odd width: partial pixel tiles
    [InlineData(72, 24, 19, 17, "none")]      // projection back to the bottleneck
    [InlineData(160, 960, 8, 8, "hardswish")] // last stage: K spans ten k-tiles, out channels many tiles
    [InlineData(3, 5, 7, 5, "none")]          // fewer channels than one k-tile
    [InlineData(240, 64, 1, 1, "relu")]       // squeeze-excite FC on the pooled 1×1 plane: one warp per output
    [InlineData(37, 9, 2, 1, "hardswish")]    // two pixels, channels not a multiple of the warp
    public void Pointwise_convolution_as_tiled_gemm_with_fused_activation(int channels, int outChannels, int height, int width, string activation)
    {
        var graph = new TinyOnnxGraph(opset: 14).Input("x", channels, height, width).Random("w", 21, outChannels, channels, 1, 1).Random("b", 22, outChannels)
            .Node("Conv", ["x", "w", "b"], [activation == "none" ? "y" : "c"]);
        if (activation == "relu") graph.Node("Relu", ["c"], ["y"]);
        if (activation == "hardswish") graph.Node("HardSwish", ["c"], ["y"]);
        AssertParity($"1×1 conv {channels}→{outChannels} at {height}×{width} + {activation}", graph.Output("y").Build(), [2, channels, height, width], scale: 2f);
    }

    [Theory]
    [InlineData(3, 1, 72, 33, 31)]
    [InlineData(3, 2, 64, 32, 29)]
    [InlineData(5, 1, 120, 17, 18)]
    [InlineData(5, 2, 72, 33, 34)]
    public void Depthwise_convolution_computes_several_outputs_per_thread(int kernel, int stride, int channels, int height, int width)
    {
        int pad = kernel / 2;
        var model = new TinyOnnxGraph().Input("x", channels, height, width).Random("w", 23, channels, 1, kernel, kernel).Random("b", 24, channels)
            .Floats("lo", [0f]).Floats("hi", [6f])
            .Node("Conv", ["x", "w", "b"], ["c"], ("group", channels), ("strides", new[] { stride, stride }), ("pads", new[] { pad, pad, pad, pad }))
            .Node("Clip", ["c", "lo", "hi"], ["y"]).Output("y").Build();
        AssertParity($"depthwise {kernel}×{kernel}/{stride} × {channels} at {height}×{width} + Relu6", model, [2, channels, height, width], scale: 2f);
    }

    [Fact]
    public void Paths_are_chosen_by_geometry()
    {
        var pointwise = Geometry(kernel: 1, stride: 1, pad: 0, groups: 1, channels: 16, outChannels: 64);
        Assert.Equal(ConvolutionPath.Pointwise, ConvolutionPaths.Of(pointwise));
        Assert.Equal(ConvolutionPath.Direct, ConvolutionPaths.Of(pointwise with { StrideX = 2, StrideY = 2, OutHeight = 4, OutWidth = 4 }));
        Assert.Equal(ConvolutionPath.Depthwise, ConvolutionPaths.Of(Geometry(kernel: 3, stride: 2, pad: 1, groups: 16, channels: 16, outChannels: 16)));
        Assert.Equal(ConvolutionPath.Direct, ConvolutionPaths.Of(Geometry(kernel: 3, stride: 2, pad: 1, groups: 1, channels: 3, outChannels: 16)));
        Assert.Equal(ConvolutionPath.Direct, ConvolutionPaths.Of(Geometry(kernel: 3, stride: 1, pad: 1, groups: 2, channels: 16, outChannels: 16)));
    }

    /// <summary>The GPU launch shapes (16 × 16 pointwise groups, 256-thread top-k groups) on a CPU accelerator that allows
    /// them, against the direct kernel and a host sort: the engine's CPU device has 2-thread groups, which would leave
    /// the full-size tile and scan arithmetic untested.</summary>
    [Fact]
    public void Gpu_group_shapes_give_the_same_results_on_a_cpu_accelerator_with_256_thread_groups()
    {
        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 8, 1)));
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new KernelLibrary(accelerator);
        var g = Geometry(kernel: 1, stride: 1, pad: 0, groups: 1, channels: 40, outChannels: 72) with { Height = 9, Width = 13, OutHeight = 9, OutWidth = 13 };
        var x = TinyOnnxGraph.RandomValues(31, g.Batch * g.Channels * 9 * 13);
        var w = TinyOnnxGraph.RandomValues(32, g.OutChannels * g.Channels);
        var bias = TinyOnnxGraph.RandomValues(33, g.OutChannels);
        using var xBuffer = accelerator.Allocate1D(x);
        using var wBuffer = accelerator.Allocate1D(w);
        using var biasBuffer = accelerator.Allocate1D(bias);
        using var tiled = accelerator.Allocate1D<float>(g.Batch * g.OutChannels * 9 * 13);
        using var direct = accelerator.Allocate1D<float>(tiled.Length);
        var relu = new Activation(UnaryFunction.Relu);
        ConvolutionPaths.Launch(kernels, ConvolutionPath.Pointwise, false, xBuffer.View, wBuffer.View, biasBuffer.View, null, tiled.View, g, relu);
        ConvolutionPaths.Launch(kernels, ConvolutionPath.Direct, false, xBuffer.View, wBuffer.View, biasBuffer.View, null, direct.View, g, relu);
        float error = tiled.GetAsArray1D().Zip(direct.GetAsArray1D(), (a, b) => Math.Abs(a - b)).Max();
        log.WriteLine($"pointwise 16×16 groups vs direct: max abs error {error:E2}");
        Assert.True(error <= Bound, $"max abs error {error}");

        const int length = 9000, k = 150;
        var heatmap = Enumerable.Range(0, 2 * length).Select(i => (i * 7919 % 113) / 16f).ToArray();
        var s = new TopKShape { Rows = 2, Length = length, Inner = 1, K = k, Largest = 1, Chunks = (length + TopKKernels.ChunkLength - 1) / TopKKernels.ChunkLength };
        using var scores = accelerator.Allocate1D(heatmap);
        using var scratch = accelerator.Allocate1D<int>(2 * s.ScratchPerRow);
        using var values = accelerator.Allocate1D<float>(2 * k);
        using var indices = accelerator.Allocate1D<float>(2 * k);
        kernels.TopK(scores.View, scratch.View, values.View, indices.View, s);
        var got = indices.GetAsArray1D();
        for (int row = 0; row < 2; row++)
        {
            var expected = Enumerable.Range(0, length).OrderByDescending(j => heatmap[row * length + j]).ThenBy(j => j).Take(k).Select(j => (float)j);
            Assert.Equal(expected, got.Skip(row * k).Take(k));
        }
    }

    /// <summary>The kernels for few pixels and long reductions with GPU group shapes (32-lane warps, 256-thread groups):
    /// the warp-per-output pointwise kernel against the direct one, the grouped reduction against the host.</summary>
    [Theory]
    [InlineData(1, 1, 576, 1, "mean")]   // a squeeze-excite global mean over a 24×24 plane: one group per output
    [InlineData(2, 3, 300, 70, "max")]   // a wide inner axis: 32 adjacent outputs per group, the rest split the axis
    [InlineData(2, 5, 129, 31, "sum")]   // inner narrower than 32: one output per group
    public void Few_pixel_pointwise_and_long_reductions_on_gpu_group_shapes(int batch, int outer, int reduced, int inner, string mode)
    {
        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 8, 1)));
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new KernelLibrary(accelerator);

        var g = Geometry(kernel: 1, stride: 1, pad: 0, groups: 1, channels: 150, outChannels: 45) with { Batch = batch, Height = 1, Width = 2, OutHeight = 1, OutWidth = 2 };
        using var xBuffer = accelerator.Allocate1D(TinyOnnxGraph.RandomValues(41, g.Batch * g.Channels * 2));
        using var wBuffer = accelerator.Allocate1D(TinyOnnxGraph.RandomValues(42, g.OutChannels * g.Channels));
        using var biasBuffer = accelerator.Allocate1D(TinyOnnxGraph.RandomValues(43, g.OutChannels));
        using var warp = accelerator.Allocate1D<float>(g.Batch * g.OutChannels * 2);
        using var direct = accelerator.Allocate1D<float>(warp.Length);
        var relu = new Activation(UnaryFunction.Relu);
        ConvolutionPaths.Launch(kernels, ConvolutionPath.Pointwise, false, xBuffer.View, wBuffer.View, biasBuffer.View, null, warp.View, g, relu);
        ConvolutionPaths.Launch(kernels, ConvolutionPath.Direct, false, xBuffer.View, wBuffer.View, biasBuffer.View, null, direct.View, g, relu);
        float convError = warp.GetAsArray1D().Zip(direct.GetAsArray1D(), (a, b) => Math.Abs(a - b)).Max();
        Assert.True(convError <= Bound, $"warp pointwise vs direct: max abs error {convError}");

        var reduceMode = mode switch { "mean" => ReduceMode.Mean, "max" => ReduceMode.Max, _ => ReduceMode.Sum };
        int rows = batch * outer;
        var x = TinyOnnxGraph.RandomValues(44, rows * reduced * inner);
        using var input = accelerator.Allocate1D(x);
        using var output = accelerator.Allocate1D<float>(rows * inner);
        kernels.Reduce(input.View, output.View, rows, reduced, inner, reduceMode);
        var got = output.GetAsArray1D();
        float reduceError = 0;
        for (int o = 0; o < rows; o++)
            for (int n = 0; n < inner; n++)
            {
                var values = Enumerable.Range(0, reduced).Select(r => (double)x[(o * reduced + r) * inner + n]).ToList();
                double expected = reduceMode switch { ReduceMode.Max => values.Max(), ReduceMode.Mean => values.Average(), _ => values.Sum() };
                reduceError = Math.Max(reduceError, (float)Math.Abs(expected - got[o * inner + n]));
            }
        log.WriteLine($"warp pointwise vs direct {convError:E2}; {mode} over {reduced} (inner {inner}) vs host {reduceError:E2}");
        Assert.True(reduceError <= 1e-4f, $"{mode} over {reduced} values: max abs error {reduceError}");
    }

    private static WindowGeometry Geometry(int kernel, int stride, int pad, int groups, int channels, int outChannels)
    {
        int size = 8, outSize = (size + 2 * pad - kernel) / stride + 1;
        return new WindowGeometry
        {
            Batch = 2, Channels = channels, Height = size, Width = size, OutChannels = outChannels, OutHeight = outSize, OutWidth = outSize,
            KernelHeight = kernel, KernelWidth = kernel, StrideY = stride, StrideX = stride, PadTop = pad, PadLeft = pad,
            DilationY = 1, DilationX = 1, Groups = groups,
        };
    }
}
