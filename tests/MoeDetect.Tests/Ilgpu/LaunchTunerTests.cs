using ILGPU;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The plan-time launch search (<see cref="LaunchTuner"/>) on the CPU accelerator with the GPU's group
/// shapes: which GEMM tile shapes it times, that it times each geometry once, and that what it picks computes what the
/// rules' choice computes. (Which candidate wins says nothing here; on a GPU the plans' profiles show it.)</summary>
public sealed class LaunchTunerTests
{
    private static readonly WindowGeometry Layer = new()
    {
        Batch = 1, Channels = 40, Height = 12, Width = 12, OutChannels = 70, OutHeight = 12, OutWidth = 12,
        KernelHeight = 1, KernelWidth = 1, StrideY = 1, StrideX = 1, DilationY = 1, DilationX = 1, Groups = 1,
    };

    [Fact]
    public void Candidates_are_the_rule_first_then_shapes_no_taller_than_twice_the_out_channels()
    {
        var narrow = ConvolutionPaths.Pointwise(Layer with { OutChannels = 4 });
        Assert.Equal([new PointwiseTiling(64, 4), new PointwiseTiling(64, 1)], LaunchTuner.Candidates(narrow, new PointwiseTiling(64, 4)));

        var wide = ConvolutionPaths.Pointwise(Layer with { OutChannels = 720 });
        var candidates = LaunchTuner.Candidates(wide, PointwiseTiling.Square);
        Assert.Equal(PointwiseTiling.Square, candidates[0]);
        Assert.Equal(8, candidates.Count);
        Assert.Equal(candidates.Count, candidates.Distinct().Count());
    }

    [Fact]
    public void Each_geometry_is_timed_once_and_its_tiles_compute_what_the_rules_compute()
    {
        using var layer = new GpuShapedLayer(Layer, seed: 91);
        var tuner = new LaunchTuner(layer.Kernels, _ => { });
        var rulePlan = layer.Kernels.PlanPointwise(ConvolutionPaths.Pointwise(Layer));
        layer.Kernels.Tuner = tuner;

        var tuned = layer.Kernels.PlanPointwise(ConvolutionPaths.Pointwise(Layer));
        var again = layer.Kernels.PlanPointwise(ConvolutionPaths.Pointwise(Layer) with { OutImageStride = 9000 });

        Assert.Equal(1, tuner.Timed);
        Assert.Contains(tuned.Tiling, LaunchTuner.Candidates(tuned, rulePlan.Tiling));
        Assert.Equal((tuned.Tiling, tuned.Slices, 9000), (again.Tiling, again.Slices, again.OutImageStride));
        // 40 channels: neither plan splits the reduction, so every output is the same sum in the same order.
        Assert.Equal((1, 1), (rulePlan.Slices, tuned.Slices));
        var relu = new Activation(UnaryFunction.Relu);
        using var unused = layer.Accelerator.Allocate1D<float>(1);
        Assert.Equal(layer.Pointwise(rulePlan, unused.View, unused.View, relu), layer.Pointwise(tuned, unused.View, unused.View, relu));
    }

    [Fact]
    public void Depthwise_layers_get_one_of_the_depthwise_kernels_once_per_geometry()
    {
        var depthwise = Layer with { Channels = 24, OutChannels = 24, Groups = 24, KernelHeight = 5, KernelWidth = 5, PadTop = 2, PadLeft = 2 };
        using var layer = new GpuShapedLayer(depthwise, seed: 93);
        var tuner = new LaunchTuner(layer.Kernels, _ => { });
        layer.Kernels.Tuner = tuner;

        var path = layer.Kernels.PlanPath(depthwise);
        Assert.Equal(path, layer.Kernels.PlanPath(depthwise));

        Assert.Equal(1, tuner.Timed);
        Assert.Contains(path, LaunchTuner.DepthwiseCandidates(depthwise));
        // A 1 × 1 layer of 40 channels: the staged-weights kernel or the GEMM, the GEMM alone where it scales its input.
        Assert.Contains(layer.Kernels.PlanPath(Layer), LaunchTuner.ShortReductionCandidates(Layer));
        Assert.Equal(ConvolutionPath.Pointwise, layer.Kernels.PlanPath(Layer, scalesInput: true));
    }

    /// <summary>Slow here: the implicit GEMM's candidate tile shapes are each compiled for the CPU accelerator.</summary>
    [Fact]
    [Trait("Category", "Slow")]
    public void Short_reductions_get_a_direct_kernel_or_the_implicit_gemm_once_per_geometry()
    {
        // A short reduction into few channels over many pixels (2 → 8 3×3 at 128×128, batch 2): the rule's blocked kernel.
        var stem = Layer with { Batch = 2, Channels = 2, OutChannels = 8, Height = 128, Width = 128, OutHeight = 128, OutWidth = 128,
            KernelHeight = 3, KernelWidth = 3, PadTop = 1, PadLeft = 1 };
        Assert.Equal(ConvolutionPath.Blocked, ConvolutionPaths.Of(stem));
        using var layer = new GpuShapedLayer(stem, seed: 95);
        var tuner = new LaunchTuner(layer.Kernels, _ => { });
        layer.Kernels.Tuner = tuner;

        var path = layer.Kernels.PlanPath(stem);
        int timed = tuner.Timed;
        Assert.Equal(path, layer.Kernels.PlanPath(stem));

        Assert.Equal(timed, tuner.Timed);
        Assert.Contains(ConvolutionPath.StagedWeights, LaunchTuner.ShortReductionCandidates(stem));
        Assert.Contains(path, LaunchTuner.ShortReductionCandidates(stem));
    }
}
