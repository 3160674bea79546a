using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>YOLOv8's head decode as Ultralytics exports it (opset 17: Split, the DFL's Reshape, Transpose, Softmax, 1×1
/// Conv and Reshape, its halves by two Slices or a Split, the anchor arithmetic, the class Sigmoid, two Concats) becomes
/// one node (<see cref="DistanceBoxFusion"/>) and keeps ONNX Runtime's outputs; a graph that differs in what the
/// kernel computes keeps its nodes.</summary>
public sealed class DistanceBoxFusionTests(ITestOutputHelper log)
{
    // Not 4 bins: a head of 4 is not fused (its reshape cannot tell sides from bins).
    private const int Bins = 5, Classes = 3, Anchors = 10;

    /// <summary>Halves: <paramref name="halves"/> "split", "slices" (constant bounds) or "dynamic" (PyTorch's export with a
    /// dynamic batch: the Reshape targets and the Slices' bounds computed from Shape nodes, which read no data).</summary>
    [Theory]
    [InlineData("split")]
    [InlineData("slices")]
    [InlineData("dynamic")]
    public void The_head_decode_runs_as_one_kernel_with_onnx_runtimes_outputs(string halves)
    {
        var model = Head(halves, divisor: 2);

        var graph = IlgpuEngine.PrepareGraph(model, "yolo head", null);

        var boxes = Assert.Single(graph.Nodes);
        Assert.Equal(DistanceBoxFusion.Boxes, boxes.OpType);
        Assert.Equal(Bins, boxes.Int(DistanceBoxFusion.Bins, 0));
        AssertParity($"head decode, halves by {halves}", model);
    }

    /// <summary>A divisor of 3 instead of 2; 4 bins a side, where the reshape's shape cannot tell sides from bins.</summary>
    [Theory]
    [InlineData(3f, Bins)]
    [InlineData(2f, 4)]
    public void A_decode_the_kernel_may_not_compute_keeps_its_nodes(float divisor, int bins)
    {
        var model = Head("dynamic", divisor, bins);

        var graph = IlgpuEngine.PrepareGraph(model, "other head", null);

        Assert.DoesNotContain(graph.Nodes, n => n.OpType == DistanceBoxFusion.Boxes);
        Assert.Contains(graph.Nodes, n => n.OpType == "Softmax");
        AssertParity($"head with a divisor of {divisor}, {bins} bins", model, bins);
    }

    /// <summary>The decode's two launch shapes (a thread per anchor, a thread per value) compute each value alike: the
    /// same outputs, bit for bit.</summary>
    [Fact]
    public void A_thread_per_anchor_and_a_thread_per_value_give_the_same_values()
    {
        var s = new DistanceBoxShape(2, Bins, Classes, Anchors);
        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 8, 1)));
        using var accelerator = context.CreateCPUAccelerator(0);
        using var x = accelerator.Allocate1D(TinyOnnxGraph.RandomValues(51, s.Batch * s.InputRows * Anchors, scale: 4));
        using var weights = accelerator.Allocate1D(Enumerable.Range(0, Bins).Select(i => (float)i).ToArray());
        using var anchors = accelerator.Allocate1D(TinyOnnxGraph.RandomValues(52, 2 * Anchors, scale: 50));
        using var strides = accelerator.Allocate1D(Enumerable.Range(0, Anchors).Select(i => 8f * (1 + i % 3)).ToArray());
        float[] Run(Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DistanceBoxShape> kernel, int threads)
        {
            using var y = accelerator.Allocate1D<float>(s.Batch * s.OutputRows * Anchors);
            accelerator.LoadAutoGroupedStreamKernel(kernel)(threads, x.View, weights.View, anchors.View, strides.View, y.View, s);
            accelerator.Synchronize();
            return y.GetAsArray1D();
        }

        var perAnchor = Run(DistanceBoxKernel.PerAnchor, s.Batch * Anchors);
        var perValue = Run(DistanceBoxKernel.PerValue, s.Batch * s.OutputRows * Anchors);

        Assert.Equal(perAnchor, perValue);
        Assert.DoesNotContain(perAnchor, float.IsNaN);
    }

    private static byte[] Head(string halves, float divisor, int bins = Bins)
    {
        var anchors = Enumerable.Range(0, 2 * Anchors).Select(i => i % Anchors + 0.5f + (i >= Anchors ? 3 : 0)).ToArray();
        var strides = Enumerable.Range(0, Anchors).Select(i => i < 6 ? 8f : 16f).ToArray();
        bool dynamic = halves == "dynamic";
        var g = new TinyOnnxGraph(opset: 17).Input("x", 4 * bins + Classes, Anchors)
            .Longs("sizes", 4 * bins, Classes).Longs("box_shape", -1, 4, bins, Anchors).Longs("distance_shape", -1, 4, Anchors)
            .Floats("dfl", Enumerable.Range(0, bins).Select(i => (float)i).ToArray(), 1, bins, 1, 1)
            .Floats("anchors", anchors, 2, Anchors).Floats("anchors_again", anchors, 2, Anchors).Floats("strides", strides, 1, Anchors).Floats("divisor", [divisor])
            .Longs("zero", 0).Longs("one", 1).Longs("two", 2).Longs("four", 4).Longs("minus_one", -1).Longs("bins", bins)
            .Node("Split", ["x", "sizes"], ["box", "cls"], ("axis", 1));
        if (dynamic)
            // As PyTorch writes box.view(n, 4, bins, a) and dist.view(n, 4, a): n and a gathered from Shape nodes by
            // 0-D indices, then unsqueezed.
            g.LongScalar("first", 0).LongScalar("third", 2)
                .Node("Shape", ["x"], ["x_shape"]).Node("Gather", ["x_shape", "first"], ["n0"], ("axis", 0)).Node("Unsqueeze", ["n0", "zero"], ["n"])
                .Node("Shape", ["box"], ["box_dims"]).Node("Gather", ["box_dims", "third"], ["a0"], ("axis", 0)).Node("Unsqueeze", ["a0", "zero"], ["a"])
                .Node("Concat", ["n", "four", "bins", "a"], ["box_target"], ("axis", 0))
                .Node("Concat", ["n", "four", "a"], ["distance_target"], ("axis", 0));
        g.Node("Reshape", ["box", dynamic ? "box_target" : "box_shape"], ["box4"]).Node("Transpose", ["box4"], ["bin_rows"], ("perm", new[] { 0, 2, 1, 3 }))
            .Node("Softmax", ["bin_rows"], ["p"], ("axis", 1)).Node("Conv", ["p", "dfl"], ["d"])
            .Node("Reshape", ["d", dynamic ? "distance_target" : "distance_shape"], ["distances"]);
        if (halves == "split") g.Longs("halves", 2, 2).Node("Split", ["distances", "halves"], ["lt", "rb"], ("axis", 1));
        else if (dynamic)
            // PyTorch's chunk(2, 1): size (rows + 1) / 2 from the shape, bounds size · 1 and size · 2.
            g.Node("Shape", ["distances"], ["distance_dims"]).Node("Gather", ["distance_dims", "one"], ["rows"], ("axis", 0))
                .Node("Add", ["rows", "one"], ["rows_up"]).Node("Div", ["rows_up", "two"], ["chunk"])
                .Node("Mul", ["chunk", "one"], ["middle"]).Node("Mul", ["chunk", "two"], ["end"])
                .Node("Slice", ["distances", "zero", "middle", "one"], ["lt"]).Node("Slice", ["distances", "middle", "end", "one"], ["rb"]);
        else g.Node("Slice", ["distances", "zero", "two", "one"], ["lt"]).Node("Slice", ["distances", "two", "four", "one"], ["rb"]);
        // PyTorch's export writes the anchors once for each use.
        return g.Node("Sub", ["anchors", "lt"], ["x1y1"]).Node("Add", [dynamic ? "anchors_again" : "anchors", "rb"], ["x2y2"])
            .Node("Add", ["x1y1", "x2y2"], ["sum"]).Node("Div", ["sum", "divisor"], ["centre"]).Node("Sub", ["x2y2", "x1y1"], ["size"])
            .Node("Concat", ["centre", "size"], ["xywh"], ("axis", 1)).Node("Mul", ["xywh", "strides"], ["scaled"])
            .Node("Sigmoid", ["cls"], ["scores"]).Node("Concat", ["scaled", "scores"], ["y"], ("axis", 1))
            .Output("y").Build();
    }

    private void AssertParity(string what, byte[] model, int bins = Bins)
    {
        // Boxes up to ~200 pixels: FP32 rounding of the exponentials and sums.
        float error = OrtParity.MaxAbsError(model, [3, 4 * bins + Classes, Anchors]);
        log.WriteLine($"{what}: max abs error {error:E2}");
        Assert.True(error <= 1e-4f, $"{what}: max abs error {error}");
    }
}
