using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Split-K summed inside the GEMM's launch (<see cref="SliceSums"/>: the tile's last group adds the slices) on
/// the GPU's group shapes: the same sums, bit for bit, as the separate summing launch
/// (<see cref="PointwiseConvolutionKernel.SumSlices"/>), with a residual and an activation in the epilogue, over partial
/// tiles of a padded 3 × 3 implicit GEMM; and the counters left zero, so that the next run (a CUDA graph replays the same
/// memory) sums the same.</summary>
public sealed class SliceSumsTests
{
    [Theory]
    [InlineData(16, 16)] // 64 × 64 tiles (4 × 4 outputs a thread on 16 × 16 threads, as the tensor cores' square tile)
    [InlineData(32, 8)]  // 32 × 128 tiles (the tensor cores' wide tile)
    public void The_last_group_of_a_tile_sums_as_the_summing_launch_and_leaves_the_counters_zero(int groupX, int groupY)
    {
        var window = new WindowGeometry
        {
            Batch = 2, Channels = 40, Height = 9, Width = 11, OutChannels = 70, OutHeight = 9, OutWidth = 11,
            KernelHeight = 3, KernelWidth = 3, StrideY = 1, StrideX = 1, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1,
        };
        // 360-long reduction in slices of 128, the last one shorter.
        var inKernel = ConvolutionPaths.ImplicitGemm(window) with
        {
            Tiling = new PointwiseTiling(groupX, groupY), AddsResidual = 1, Slices = 3, SliceChannels = 128, SumsInKernel = 1,
        };
        var separate = inKernel with { SumsInKernel = 0 };
        using var layer = new GpuShapedLayer(window, seed: 71);
        using var residual = layer.Accelerator.Allocate1D(TinyOnnxGraph.RandomValues(74, layer.Outputs));
        using var scratch = new GemmScratch(layer.Kernels, inKernel, separate);
        var silu = new Activation(UnaryFunction.Silu);
        float[] Run(PointwiseGeometry p) => layer.Run((x, scale, w, bias, y) =>
            layer.Kernels.PointwiseConvolution(x, scale, w, bias, residual.View, scratch.Workspace, scratch.Counters, y, p, silu));

        var summedHere = Run(inKernel);
        var again = Run(inKernel);
        var summedApart = Run(separate);

        Assert.Equal(summedApart, summedHere);
        Assert.Equal(summedHere, again);
        Assert.All(((ArrayView1D<int, Stride1D.Dense>)scratch.Counters).GetAsArray1D(), count => Assert.Equal(0, count));
    }

    /// <summary>The rule plans split layers summed in the kernel, with a counter a tile.</summary>
    [Fact]
    public void Split_plans_sum_in_the_kernel_with_a_counter_a_tile()
    {
        var window = new WindowGeometry
        {
            Batch = 1, Channels = 96, Height = 6, Width = 6, OutChannels = 32, OutHeight = 6, OutWidth = 6,
            KernelHeight = 3, KernelWidth = 3, StrideY = 1, StrideX = 1, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1,
        };
        using var layer = new GpuShapedLayer(window, seed: 75);
        var planned = layer.Kernels.PlanPointwise(ConvolutionPaths.ImplicitGemm(window));
        Assert.True(planned.Slices > 1);
        Assert.Equal(1, planned.SumsInKernel);
        Assert.Equal(planned.Tiling.Tiles(planned), planned.SliceCounters);
        Assert.Equal(planned.SliceCounters * planned.Slices * planned.Tiling.TileChannels * planned.Tiling.TilePixels, planned.PartialsLength);
    }
}
