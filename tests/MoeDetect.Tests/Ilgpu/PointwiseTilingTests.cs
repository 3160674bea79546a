using Xunit;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The pointwise GEMM's tile shapes (<see cref="PointwiseConvolutionKernel.ChooseTiling"/>): the rule on
/// CenterNet's layers, and every shape it can pick run with the GPU's groups (32-lane warps, up to 256 threads) on the
/// CPU accelerator against the direct kernel, with an input scale, activation, residual and split-K.</summary>
public sealed class PointwiseTilingTests(ITestOutputHelper log)
{
    private const float Bound = 2e-5f;
    private const int H100 = 132;

    private static PointwiseGeometry Layer(int batch, int channels, int outChannels, int pixels) =>
        new() { Batch = batch, Channels = channels, OutChannels = outChannels, Pixels = pixels, Slices = 1, SliceChannels = channels };

    [Fact]
    public void Tiles_follow_the_layer_geometry()
    {
        PointwiseTiling Tiling(int batch, int channels, int outChannels, int pixels) =>
            PointwiseConvolutionKernel.ChooseTiling(Layer(batch, channels, outChannels, pixels), H100);
        // Batch 32 on an H100: from 33 out channels on, the 64 × 64 tile.
        Assert.Equal(PointwiseTiling.Square, Tiling(32, 128, 80, 128 * 128));
        Assert.Equal(PointwiseTiling.Square, Tiling(32, 24, 72, 128 * 128));
        Assert.Equal(PointwiseTiling.Square, Tiling(32, 88, 528, 32 * 32));
        Assert.Equal(PointwiseTiling.Square, Tiling(32, 16, 64, 256 * 256));
        Assert.Equal(PointwiseTiling.Square, Tiling(32, 528, 88, 32 * 32));
        Assert.Equal(PointwiseTiling.Square, Tiling(32, 64, 33, 64 * 64));
        // Few out channels: short tiles, as wide as 256 pixels.
        Assert.Equal(new PointwiseTiling(64, 1), Tiling(32, 128, 4, 128 * 128));
        Assert.Equal(new PointwiseTiling(64, 4), Tiling(32, 16, 16, 256 * 256));
        Assert.Equal(new PointwiseTiling(32, 8), Tiling(32, 72, 24, 128 * 128));
        Assert.Equal(new PointwiseTiling(32, 8), Tiling(32, 72, 18, 128 * 128));
        Assert.Equal(new PointwiseTiling(32, 8), Tiling(32, 64, 32, 64 * 64));
        // Batch 1: narrower short tiles where they keep two groups per multiprocessor, else the 64 × 64 tile (and split-K).
        Assert.Equal(new PointwiseTiling(32, 4), Tiling(1, 16, 16, 256 * 256));
        Assert.Equal(PointwiseTiling.Square, Tiling(1, 128, 4, 128 * 128));
        Assert.Equal(PointwiseTiling.Square, Tiling(1, 128, 80, 128 * 128));
        Assert.Equal(PointwiseTiling.Square, Tiling(1, 720, 120, 16 * 16));
    }

    [Fact]
    public void Split_k_counts_the_tiles_of_the_chosen_shape()
    {
        var layer = Layer(1, 720, 120, 16 * 16);
        // On 8 multiprocessors: 8 tiles of 64 × 64 are one per multiprocessor, 3 slices; 30 tiles of 4 × 256 are enough, none.
        Assert.Equal(3, PointwiseConvolutionKernel.SplitK(layer with { Tiling = PointwiseTiling.Square }, 8).Slices);
        Assert.Equal(1, PointwiseConvolutionKernel.SplitK(layer with { Tiling = new PointwiseTiling(64, 1) }, 8).Slices);
        // Plans split only the tiles they launch: the 720 → 120 layer at batch 1 on an H100 keeps its 15 slices.
        var planned = PointwiseConvolutionKernel.SplitK(layer with { Tiling = PointwiseConvolutionKernel.ChooseTiling(layer, H100) }, H100);
        Assert.Equal((15, 48), (planned.Slices, planned.SliceChannels));
    }

    /// <summary>Each shape with odd sizes (batch 2, 17 × 19 pixels: partial tiles of 64, 128 and 256 pixels; channels
    /// not a multiple of the 16-channel k-tile; out channels not a multiple of the tile), x scaled per channel as it is
    /// loaded, hard-swish and a residual in the epilogue; where slices is 4, split-K with slices of 64 channels (the
    /// last one shorter) and the epilogue in the summing launch.</summary>
    [Theory]
    [InlineData(16, 16, 37, 70, 1)]  // the 64 × 64 tile
    [InlineData(16, 16, 200, 150, 4)] // 64 × 64, split
    [InlineData(64, 1, 37, 3, 1)]    // short tiles: 4 × 256
    [InlineData(64, 2, 37, 7, 1)]    // 8 × 256
    [InlineData(64, 4, 200, 13, 4)]  // 16 × 256, split
    [InlineData(32, 8, 37, 29, 1)]   // 32 × 128
    [InlineData(32, 4, 37, 13, 1)]   // 16 × 128
    public void Every_tile_shape_matches_the_direct_kernel_on_gpu_group_shapes(int groupX, int groupY, int channels, int outChannels, int slices)
    {
        const int batch = 2, height = 17, width = 19, pixels = height * width;
        var g = Layer(batch, channels, outChannels, pixels) with
        {
            Tiling = new PointwiseTiling(groupX, groupY), AddsResidual = 1, ScalesInput = 1, ScaleImageStride = channels,
            Slices = slices, SliceChannels = slices > 1 ? 64 : channels,
        };
        var x = TinyOnnxGraph.RandomValues(61, batch * channels * pixels);
        var scale = TinyOnnxGraph.RandomValues(62, batch * channels);
        var w = TinyOnnxGraph.RandomValues(63, outChannels * channels);
        var bias = TinyOnnxGraph.RandomValues(64, outChannels);
        var residual = TinyOnnxGraph.RandomValues(65, batch * outChannels * pixels);
        var scaled = x.Select((v, i) => v * scale[i / pixels]).ToArray();
        var hardSwish = new Activation(UnaryFunction.HardSwish);

        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 8, 1)));
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new KernelLibrary(accelerator);
        using var xBuffer = accelerator.Allocate1D(x);
        using var scaledBuffer = accelerator.Allocate1D(scaled);
        using var scaleBuffer = accelerator.Allocate1D(scale);
        using var wBuffer = accelerator.Allocate1D(w);
        using var biasBuffer = accelerator.Allocate1D(bias);
        using var residualBuffer = accelerator.Allocate1D(residual);
        using var partials = accelerator.Allocate1D<float>(slices * residual.Length);
        using var y = accelerator.Allocate1D<float>(residual.Length);
        using var direct = accelerator.Allocate1D<float>(residual.Length);
        kernels.PointwiseConvolution(xBuffer.View, scaleBuffer.View, wBuffer.View, biasBuffer.View, residualBuffer.View, partials.View, y.View, g, hardSwish);
        var window = new WindowGeometry
        {
            Batch = batch, Channels = channels, Height = height, Width = width, OutChannels = outChannels, OutHeight = height, OutWidth = width,
            KernelHeight = 1, KernelWidth = 1, StrideY = 1, StrideX = 1, DilationY = 1, DilationX = 1, Groups = 1,
        };
        ConvolutionPaths.Launch(kernels, ConvolutionPath.Direct, scaledBuffer.View, scaledBuffer.View, wBuffer.View, biasBuffer.View, direct.View, window, hardSwish);

        var expected = direct.GetAsArray1D().Zip(residual, (d, r) => d + r);
        float error = y.GetAsArray1D().Zip(expected, (a, b) => Math.Abs(a - b)).Max();
        log.WriteLine($"{g.Tiling}, {channels}→{outChannels}, {slices} slice(s): max abs error {error:E2}");
        Assert.True(error <= Bound, $"max abs error {error}");
    }

    /// <summary>The 64 × 64 tile on 16 × 16 threads loads the next k-tile into registers while it computes; its tiles and
    /// so its sums are those of the generic loop that smaller groups run (here 2-thread groups, as the engine's CPU
    /// device has): bit for bit, split or not.</summary>
    [Theory]
    [InlineData(150, 1)]
    [InlineData(150, 3)]
    public void The_prefetching_square_tile_sums_exactly_as_the_generic_loop(int channels, int slices)
    {
        var window = new WindowGeometry
        {
            Batch = 2, Channels = channels, Height = 9, Width = 11, OutChannels = 70, OutHeight = 9, OutWidth = 11,
            KernelHeight = 1, KernelWidth = 1, StrideY = 1, StrideX = 1, DilationY = 1, DilationX = 1, Groups = 1,
        };
        var g = ConvolutionPaths.Pointwise(window) with { Tiling = PointwiseTiling.Square, Slices = slices, SliceChannels = slices > 1 ? 64 : channels };
        using var square = new GpuShapedLayer(window, seed: 81);
        using var generic = new GpuShapedLayer(window, seed: 81, new CPUDevice(2, 1, 1));
        var relu = new Activation(UnaryFunction.Relu);

        float[] Run(GpuShapedLayer layer)
        {
            using var partials = layer.Accelerator.Allocate1D<float>(slices * (long)layer.Outputs);
            return layer.Pointwise(g, partials.View, partials.View, relu);
        }

        Assert.Equal(Run(generic), Run(square));
    }
}
