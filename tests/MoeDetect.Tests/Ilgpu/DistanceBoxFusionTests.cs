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
    private const int Bins = 4, Classes = 3, Anchors = 10;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_head_decode_runs_as_one_kernel_with_onnx_runtimes_outputs(bool halvesBySplit)
    {
        var model = Head(halvesBySplit, divisor: 2);

        var graph = IlgpuEngine.PrepareGraph(model, "yolo head", null);

        var boxes = Assert.Single(graph.Nodes);
        Assert.Equal(DistanceBoxFusion.Boxes, boxes.OpType);
        Assert.Equal(Bins, boxes.Int(DistanceBoxFusion.Bins, 0));
        AssertParity($"head decode, halves by {(halvesBySplit ? "Split" : "Slices")}", model);
    }

    [Fact]
    public void A_decode_with_other_arithmetic_keeps_its_nodes()
    {
        var model = Head(halvesBySplit: false, divisor: 3);

        var graph = IlgpuEngine.PrepareGraph(model, "other head", null);

        Assert.DoesNotContain(graph.Nodes, n => n.OpType == DistanceBoxFusion.Boxes);
        Assert.Contains(graph.Nodes, n => n.OpType == "Softmax");
        AssertParity("head with a divisor of 3", model);
    }

    private static byte[] Head(bool halvesBySplit, float divisor)
    {
        var anchors = Enumerable.Range(0, 2 * Anchors).Select(i => i % Anchors + 0.5f + (i >= Anchors ? 3 : 0)).ToArray();
        var strides = Enumerable.Range(0, Anchors).Select(i => i < 6 ? 8f : 16f).ToArray();
        var g = new TinyOnnxGraph(opset: 17).Input("x", 4 * Bins + Classes, Anchors)
            .Longs("sizes", 4 * Bins, Classes).Longs("box_shape", -1, 4, Bins, Anchors).Longs("distance_shape", -1, 4, Anchors)
            .Floats("dfl", Enumerable.Range(0, Bins).Select(i => (float)i).ToArray(), 1, Bins, 1, 1)
            .Floats("anchors", anchors, 2, Anchors).Floats("strides", strides, 1, Anchors).Floats("divisor", [divisor])
            .Node("Split", ["x", "sizes"], ["box", "cls"], ("axis", 1))
            .Node("Reshape", ["box", "box_shape"], ["box4"]).Node("Transpose", ["box4"], ["bins"], ("perm", new[] { 0, 2, 1, 3 }))
            .Node("Softmax", ["bins"], ["p"], ("axis", 1)).Node("Conv", ["p", "dfl"], ["d"])
            .Node("Reshape", ["d", "distance_shape"], ["distances"]);
        if (halvesBySplit) g.Longs("halves", 2, 2).Node("Split", ["distances", "halves"], ["lt", "rb"], ("axis", 1));
        else g.Longs("zero", 0).Longs("two", 2).Longs("four", 4).Longs("one", 1)
            .Node("Slice", ["distances", "zero", "two", "one"], ["lt"]).Node("Slice", ["distances", "two", "four", "one"], ["rb"]);
        return g.Node("Sub", ["anchors", "lt"], ["x1y1"]).Node("Add", ["anchors", "rb"], ["x2y2"])
            .Node("Add", ["x1y1", "x2y2"], ["sum"]).Node("Div", ["sum", "divisor"], ["centre"]).Node("Sub", ["x2y2", "x1y1"], ["size"])
            .Node("Concat", ["centre", "size"], ["xywh"], ("axis", 1)).Node("Mul", ["xywh", "strides"], ["scaled"])
            .Node("Sigmoid", ["cls"], ["scores"]).Node("Concat", ["scaled", "scores"], ["y"], ("axis", 1))
            .Output("y").Build();
    }

    private void AssertParity(string what, byte[] model)
    {
        // Boxes up to ~200 pixels: FP32 rounding of the exponentials and sums.
        float error = OrtParity.MaxAbsError(model, [3, 4 * Bins + Classes, Anchors]);
        log.WriteLine($"{what}: max abs error {error:E2}");
        Assert.True(error <= 1e-4f, $"{what}: max abs error {error}");
    }
}
