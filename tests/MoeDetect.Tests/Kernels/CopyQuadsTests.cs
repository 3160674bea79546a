using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Tests.Ilgpu;

namespace MoeDetect.Tests.Kernels;

/// <summary>Strided copies move four values a thread (<see cref="ElementwiseKernels.CopyQuads"/>) exactly where their
/// walk divides into 16-byte quads (<see cref="CopyLayout.InQuads"/>), and land every value where the one-value copy does.</summary>
public class CopyQuadsTests
{
    /// <summary>YOLOv8's head: a level's [2, 144, 400] placed at column 6400 of [2, 144, 8400] (Concat on the last axis).</summary>
    private static readonly CopyLayout HeadLevel = Walk([2, 144, 400], [144 * 400, 400, 1], 0, [144 * 8400, 8400, 1], 6400);

    private static CopyLayout Walk(int[] sizes, int[] xStrides, int xStart, int[] yStrides, int yStart) =>
        new(Dims6.From(sizes, 1), Dims6.From(xStrides, 0), xStart, Dims6.From(yStrides, 0), yStart);

    [Fact]
    public void A_walk_of_contiguous_rows_on_quad_boundaries_counts_quads()
    {
        var quads = HeadLevel.InQuads(aligned: true);
        Assert.NotNull(quads);
        Assert.Equal(HeadLevel.Count / 4, quads.Value.Count);
        Assert.Equal(1600, quads.Value.YStart);
        Assert.Equal(2100, quads.Value.YStrides.D4);
    }

    [Fact]
    public void Walks_off_quad_boundaries_or_not_contiguous_inside_stay_one_value_a_thread()
    {
        Assert.Null(HeadLevel.InQuads(aligned: false));
        Assert.Null((HeadLevel with { YStart = 6402 }).InQuads(aligned: true));
        // Rows of 5, a row stride of 6, a transpose (innermost stride 16 on one side).
        Assert.Null(Walk([2, 3, 5], [15, 5, 1], 0, [15, 5, 1], 0).InQuads(aligned: true));
        Assert.Null(Walk([3, 8], [6, 1], 0, [8, 1], 0).InQuads(aligned: true));
        Assert.Null(Walk([4, 16], [1, 4], 0, [16, 1], 0).InQuads(aligned: true));
    }

    [Fact]
    public void The_quad_kernel_writes_what_the_one_value_kernel_writes()
    {
        var walk = Walk([2, 6, 40], [6 * 40, 40, 1], 0, [6 * 100, 100, 1], 52);
        var x = Enumerable.Range(0, walk.Count).Select(i => i * 0.5f - 7).ToArray();
        Assert.Equal(Copied(walk, x, useQuads: false), Copied(walk, x, useQuads: true));
    }

    /// <summary>y (1,200 values, −1 where nothing is copied) after the copy of x by the quad or the one-value kernel,
    /// with a ReLU, on the CPU accelerator.</summary>
    private static float[] Copied(CopyLayout walk, float[] x, bool useQuads)
    {
        using var device = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        var accelerator = device.Accelerator;
        using var xs = accelerator.Allocate1D(x);
        using var ys = accelerator.Allocate1D(Enumerable.Repeat(-1f, 1200).ToArray());
        var relu = new Activation(UnaryFunction.Relu);
        if (useQuads)
        {
            var q = walk.InQuads(aligned: true)!.Value;
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, Dims6, Dims6, int, Dims6, int, Activation>(ElementwiseKernels.CopyQuads)(
                q.Count, xs.View, ys.View, q.Sizes, q.XStrides, q.XStart, q.YStrides, q.YStart, relu);
        }
        else
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, Dims6, Dims6, int, Dims6, int, Activation>(ElementwiseKernels.Copy)(
                walk.Count, xs.View, ys.View, walk.Sizes, walk.XStrides, walk.XStart, walk.YStrides, walk.YStart, relu);
        accelerator.Synchronize();
        return ys.GetAsArray1D();
    }

    /// <summary>YOLOv8's head in small: levels concatenated along the last axis (one of them sliced from the other), then
    /// split along channels, every copy in quads; ONNX Runtime's values exactly.</summary>
    [Fact]
    public void A_head_concat_and_split_copied_in_quads_match_onnx_runtime()
    {
        var model = new TinyOnnxGraph().Input("a", 12, 16).Longs("split", 5, 7).Longs("from", 0).Longs("to", 4).Longs("last", 2)
            .Node("Slice", ["a", "from", "to", "last"], ["b"])
            .Node("Concat", ["a", "b"], ["c"], ("axis", 2))
            .Node("Split", ["c", "split"], ["box", "cls"], ("axis", 1))
            .Output("box").Output("cls").Build();
        Assert.Equal(0f, OrtParity.MaxAbsError(model, [2, 12, 16]));
    }
}
