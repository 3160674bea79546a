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

    /// <summary>Pointwise layers with few output tiles and long reductions run split-K (the CPU accelerator plans for an
    /// H100's 132 multiprocessors): channels not a multiple of the 16-channel k-tile (a short last slice), pixels and
    /// out channels not multiples of the 64 × 64 tile, batch 2, with the activation and residual in the summing epilogue.</summary>
    [Theory]
    [InlineData(150, 70, 9, 13, "hardswish", true)] // 3 slices of 64, 64 and 22 channels
    [InlineData(129, 40, 5, 5, "none", true)]       // 3 slices of 48, 48 and 33 (its last k-tile one channel)
    [InlineData(720, 120, 16, 16, "relu", false)]   // CenterNet's 720 → 120 at 16 × 16: 15 slices of 48
    public void Pointwise_convolutions_with_few_tiles_split_the_channels(int channels, int outChannels, int height, int width, string activation, bool residual)
    {
        using var context = Context.Create(b => b.CPU());
        using var accelerator = context.CreateCPUAccelerator(0);
        var planned = new KernelLibrary(accelerator).PlanPointwise(ConvolutionPaths.Pointwise(
            Geometry(kernel: 1, stride: 1, pad: 0, groups: 1, channels, outChannels) with { Height = height, Width = width }));
        log.WriteLine($"{channels}→{outChannels} at {height}×{width}, batch 2: {planned.Slices} slices of {planned.SliceChannels} channels");
        Assert.True(planned.Slices > 1);

        var graph = new TinyOnnxGraph(opset: 14).Input("x", channels, height, width).Random("w", 25, outChannels, channels, 1, 1).Random("b", 26, outChannels)
            .Random("wr", 27, outChannels, channels, 1, 1).Node("Conv", ["x", "w", "b"], [activation == "none" ? "c" : "pre"]);
        if (activation == "relu") graph.Node("Relu", ["pre"], ["c"]);
        if (activation == "hardswish") graph.Node("HardSwish", ["pre"], ["c"]);
        if (residual) graph.Node("Conv", ["x", "wr"], ["r"]).Node("Add", ["c", "r"], ["y"]);
        AssertParity($"split-K 1×1 conv {channels}→{outChannels} at {height}×{width} + {activation}{(residual ? " + residual" : "")}",
            graph.Output(residual ? "y" : "c").Build(), [2, channels, height, width], scale: 0.5f);
    }

    [Fact]
    public void Split_k_slices_fill_the_multiprocessors_with_whole_k_tiles()
    {
        PointwiseGeometry Split(int batch, int channels, int outChannels, int pixels, int multiprocessors) => PointwiseConvolutionKernel.SplitK(
            new PointwiseGeometry
            {
                Batch = batch, Channels = channels, OutChannels = outChannels, Pixels = pixels, Slices = 1, SliceChannels = channels,
                Tiling = PointwiseTiling.Square,
            },
            multiprocessors);
        // 8 tiles of 64 × 64 on 132 multiprocessors: 15 slices of 3 k-tiles (120 groups); 5 slices would leave it at 40.
        Assert.Equal((15, 48), (Split(1, 720, 120, 16 * 16, 132).Slices, Split(1, 720, 120, 16 * 16, 132).SliceChannels));
        // Batch 32: 256 tiles, just under two per multiprocessor: 2 slices (23 and 22 k-tiles).
        Assert.Equal((2, 368), (Split(32, 720, 120, 16 * 16, 132).Slices, Split(32, 720, 120, 16 * 16, 132).SliceChannels));
        // 960 → 160 at 8 × 8: 3 tiles, 60 k-tiles, 20 slices of 3.
        Assert.Equal((20, 48), (Split(1, 960, 160, 8 * 8, 132).Slices, Split(1, 960, 160, 8 * 8, 132).SliceChannels));
        Assert.Equal(1, Split(1, 120, 720, 16 * 16, 132).Slices);     // short reduction (120 < 128 channels)
        Assert.Equal(1, Split(1, 160, 960, 64 * 64, 132).Slices);     // 64 × 15 = 960 tiles: enough groups
        Assert.Equal(1, Split(1, 720, 120, 16 * 16, 4).Slices);       // 8 tiles on 4 multiprocessors
        Assert.Equal((3, 48), (Split(1, 130, 10, 10, 8).Slices, Split(1, 130, 10, 10, 8).SliceChannels)); // 9 k-tiles: at most 3 slices of 3
    }

    /// <summary>Through the engine (the tiled kernel on the engine's CPU device, 2-thread groups) against ONNX Runtime.</summary>
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

    /// <summary>The depthwise kernels that take each geometry against the direct kernel with the GPU's group sizes (the tiled kernel's 64- to
    /// 256-thread groups; several tiles a plane where the output is wider or taller than 32): kernel sizes, strides, a
    /// dilation, unequal top and left padding (the bottom and right as the output size leaves them) and odd sizes.</summary>
    [Theory]
    [InlineData(3, 1, 1, 1, 1, 40, 70)] // two tiles down, three across, the last ones partial
    [InlineData(5, 2, 1, 2, 1, 33, 35)] // 5 × 5 / 2
    [InlineData(3, 1, 2, 2, 0, 20, 9)]  // dilation 2, no left padding
    [InlineData(5, 1, 1, 2, 2, 16, 16)] // 16 × 16: one 16 × 16 tile, 64 threads
    public void Depthwise_kernels_match_the_direct_kernel_on_gpu_group_shapes(int kernel, int stride, int dilation, int padTop, int padLeft, int height, int width)
    {
        int reach = dilation * (kernel - 1);
        var g = new WindowGeometry
        {
            Batch = 2, Channels = 6, Height = height, Width = width, OutChannels = 6, Groups = 6,
            OutHeight = (height + 2 * padTop - reach - 1) / stride + 1, OutWidth = (width + padLeft + 1 - reach - 1) / stride + 1,
            KernelHeight = kernel, KernelWidth = kernel, StrideY = stride, StrideX = stride, PadTop = padTop, PadLeft = padLeft,
            DilationY = dilation, DilationX = dilation,
        };
        using var layer = new GpuShapedLayer(g, seed: 41);
        var hardSwish = new Activation(UnaryFunction.HardSwish);
        var direct = layer.Run(ConvolutionPath.Direct, hardSwish);
        foreach (var path in LaunchTuner.DepthwiseCandidates(g))
        {
            float error = MaxAbsDifference(layer.Run(path, hardSwish), direct);
            log.WriteLine($"{path} {kernel}×{kernel}/{stride} dilation {dilation} at {height}×{width}: max abs error {error:E2}");
            Assert.True(error <= Bound, $"{path}: max abs error {error}");
        }
    }

    /// <summary>The 16-byte depthwise kernel against the span kernel with the GPU's group shapes: the same sums in the
    /// same order, so equal to the last bit. 1, 2 and 4 rows a thread (heights that leave the last row block partial),
    /// 3 × 3 and 5 × 5 at strides 1 and 2, left padding 0 to 2 (loads wholly in the padding, and loads the windows do not
    /// reach), top padding 0 to 2, an input scale per image and channel, batch 2.</summary>
    [Theory]
    [InlineData(3, 1, 1, 1, 1, 18, 20, false)]
    [InlineData(3, 1, 1, 1, 2, 17, 16, true)]
    [InlineData(3, 1, 1, 1, 4, 19, 32, false)]
    [InlineData(5, 1, 2, 2, 4, 13, 12, true)]
    [InlineData(5, 1, 2, 2, 2, 8, 8, false)]
    [InlineData(3, 2, 0, 0, 4, 23, 24, false)] // TensorFlow's SAME at stride 2: no top or left padding
    [InlineData(3, 2, 1, 1, 2, 16, 40, true)]
    [InlineData(5, 2, 1, 1, 4, 30, 16, false)]
    [InlineData(5, 2, 2, 2, 1, 9, 8, true)]
    public void Depthwise_rows_kernel_gives_the_span_kernels_sums(int kernel, int stride, int padTop, int padLeft, int rows, int height, int width, bool scaled)
    {
        var g = new WindowGeometry
        {
            Batch = 2, Channels = 5, Height = height, Width = width, OutChannels = 5, Groups = 5,
            OutHeight = (height + stride - 1) / stride, OutWidth = width / stride,
            KernelHeight = kernel, KernelWidth = kernel, StrideY = stride, StrideX = stride, PadTop = padTop, PadLeft = padLeft,
            DilationY = 1, DilationX = 1, ScalesInput = scaled ? 1 : 0, ScaleImageStride = scaled ? 5 : 0,
        };
        Assert.True(DepthwiseRowsKernel.Fits(g));
        using var layer = new GpuShapedLayer(g, seed: 61);
        var hardSwish = new Activation(UnaryFunction.HardSwish);
        var rowsOut = layer.Run((x, scale, w, bias, y) =>
        {
            // Unaligned views would take the span kernel instead, and the test would compare it with itself.
            Assert.True(DeviceMemory.IsAligned(x, 16) && DeviceMemory.IsAligned(y, 16), "the CPU accelerator's buffers are not 16-byte aligned");
            layer.Kernels.DepthwiseRowsConvolution(x, scale, w, bias, y, g, hardSwish, rows);
        });
        Assert.Equal(layer.Run(ConvolutionPath.Depthwise, hardSwish), rowsOut);
    }

    [Fact]
    public void Paths_are_chosen_by_geometry()
    {
        var pointwise = Geometry(kernel: 1, stride: 1, pad: 0, groups: 1, channels: 16, outChannels: 64);
        Assert.Equal(ConvolutionPath.Pointwise, ConvolutionPaths.Of(pointwise));
        Assert.Equal(ConvolutionPath.ImplicitGemm, ConvolutionPaths.Of(pointwise with { StrideX = 2, StrideY = 2, OutHeight = 4, OutWidth = 4 }));
        Assert.Equal(ConvolutionPath.Blocked, ConvolutionPaths.Of(pointwise with { Batch = 8, StrideX = 2, StrideY = 2, OutHeight = 32, OutWidth = 32 }));
        Assert.Equal(ConvolutionPath.ImplicitGemm, ConvolutionPaths.Of(pointwise with { Batch = 8, StrideX = 2, StrideY = 2, OutHeight = 32, OutWidth = 32, OutChannels = 60 }));
        var depthwise = Geometry(kernel: 3, stride: 2, pad: 1, groups: 16, channels: 16, outChannels: 16);
        Assert.Equal(ConvolutionPath.DepthwiseRows, ConvolutionPaths.Of(depthwise));
        Assert.Equal(ConvolutionPath.Depthwise, ConvolutionPaths.Of(depthwise with { Height = 9, Width = 9, OutHeight = 5, OutWidth = 5 }));
        Assert.Equal(ConvolutionPath.Blocked, ConvolutionPaths.Of(Geometry(kernel: 3, stride: 2, pad: 1, groups: 1, channels: 3, outChannels: 16) with { OutHeight = 256, OutWidth = 256 }));
        Assert.Equal(ConvolutionPath.Direct, ConvolutionPaths.Of(Geometry(kernel: 3, stride: 1, pad: 1, groups: 2, channels: 16, outChannels: 16)));
    }

    /// <summary>The GPU launch shapes (16 × 16 pointwise groups, 256-thread top-k groups) on a CPU accelerator that allows
    /// them, against the direct kernel and a host sort: the engine's CPU device has 2-thread groups, which would leave
    /// the full-size tile and scan arithmetic untested.</summary>
    [Fact]
    public void Gpu_group_shapes_give_the_same_results_on_a_cpu_accelerator_with_256_thread_groups()
    {
        var g = Geometry(kernel: 1, stride: 1, pad: 0, groups: 1, channels: 40, outChannels: 72) with { Height = 9, Width = 13, OutHeight = 9, OutWidth = 13 };
        using var layer = new GpuShapedLayer(g, seed: 31);
        var (accelerator, kernels) = (layer.Accelerator, layer.Kernels);
        var relu = new Activation(UnaryFunction.Relu);
        float error = MaxAbsDifference(layer.Run(ConvolutionPath.Pointwise, relu), layer.Run(ConvolutionPath.Direct, relu));
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

    /// <summary>Split-K with the GPU's 16 × 16 groups (64 × 64 tiles) against the direct kernel, a residual and activation in
    /// the summing epilogue: 200 channels in slices of 64 (the last of 8), 70 out channels and 90 pixels in partial tiles.</summary>
    [Fact]
    public void Split_k_on_gpu_group_shapes_matches_the_direct_kernel()
    {
        var g = Geometry(kernel: 1, stride: 1, pad: 0, groups: 1, channels: 200, outChannels: 70) with { Height = 9, Width = 10, OutHeight = 9, OutWidth = 10 };
        var p = ConvolutionPaths.Pointwise(g) with { AddsResidual = 1, Slices = 4, SliceChannels = 64 };
        using var layer = new GpuShapedLayer(g, seed: 51);
        var residual = TinyOnnxGraph.RandomValues(54, layer.Outputs);
        using var residualBuffer = layer.Accelerator.Allocate1D(residual);
        using var partials = layer.Accelerator.Allocate1D<float>(p.Slices * layer.Outputs);
        var hardSwish = new Activation(UnaryFunction.HardSwish);
        var split = layer.Pointwise(p, residualBuffer.View, partials.View, hardSwish);
        float error = MaxAbsDifference(split, layer.Run(ConvolutionPath.Direct, hardSwish).Zip(residual, (d, r) => d + r).ToArray());
        log.WriteLine($"split-K 4 × 64 on 16×16 groups vs direct + residual: max abs error {error:E2}");
        Assert.True(error <= Bound, $"max abs error {error}");
    }

    /// <summary>The kernels for few pixels and long reductions with GPU group shapes (32-lane warps, 256-thread groups):
    /// the warp-per-output pointwise kernel against the direct one, the grouped reduction against the host.</summary>
    [Theory]
    [InlineData(1, 1, 576, 1, "mean")]   // a squeeze-excite global mean over a 24×24 plane: one group per output
    [InlineData(2, 3, 300, 70, "max")]   // a wide inner axis: 32 adjacent outputs per group, the rest split the axis
    [InlineData(2, 5, 129, 31, "sum")]   // inner narrower than 32: one output per group
    public void Few_pixel_pointwise_and_long_reductions_on_gpu_group_shapes(int batch, int outer, int reduced, int inner, string mode)
    {
        var g = Geometry(kernel: 1, stride: 1, pad: 0, groups: 1, channels: 150, outChannels: 45) with { Batch = batch, Height = 1, Width = 2, OutHeight = 1, OutWidth = 2 };
        using var layer = new GpuShapedLayer(g, seed: 41);
        var (accelerator, kernels) = (layer.Accelerator, layer.Kernels);
        var relu = new Activation(UnaryFunction.Relu);
        float convError = MaxAbsDifference(layer.Run(ConvolutionPath.Pointwise, relu), layer.Run(ConvolutionPath.Direct, relu));
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

    private static float MaxAbsDifference(float[] a, float[] b) => a.Zip(b, (u, v) => Math.Abs(u - v)).Max();

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
