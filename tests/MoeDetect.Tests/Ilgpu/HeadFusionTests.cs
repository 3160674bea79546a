using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The load-time fusions of CenterNet's head: a Relu after a Concat done by the Concat's copies, the head's
/// squeeze-excite gate applied inside both depthwise branches that read it, and the peak test before the top-k
/// (MaxPool, Equal, Cast, Mul and the Transpose to channels-last) as one kernel. Each keeps ONNX Runtime's outputs.</summary>
public sealed class HeadFusionTests(ITestOutputHelper log)
{
    [Fact]
    public void A_relu_after_a_concat_is_applied_by_the_concat()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 5, 6).Random("w1", 11, 4, 3, 1, 1).Random("w2", 12, 2, 3, 1, 1)
            .Node("Conv", ["x", "w1"], ["a"]).Node("Conv", ["x", "w2"], ["b"])
            .Node("Concat", ["a", "b"], ["c"], ("axis", 1)).Node("Relu", ["c"], ["y"]).Output("y").Build();

        var graph = IlgpuEngine.PrepareGraph(model, "concat-relu", null);

        Assert.Equal(["Conv", "Conv", "Concat"], graph.Nodes.Select(n => n.OpType));
        Assert.Equal(UnaryFunction.Relu, graph.Nodes[2].Fused.Function);
        AssertParity("concat + relu", model, [2, 3, 5, 6], exact: true);
    }

    [Fact]
    public void A_concat_read_by_more_than_its_activation_keeps_the_activation_apart()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 4, 4).Random("w", 13, 3, 3, 1, 1)
            .Node("Conv", ["x", "w"], ["a"]).Node("Concat", ["a", "x"], ["c"], ("axis", 1)).Node("Relu", ["c"], ["r"])
            .Node("Add", ["c", "r"], ["y"]).Output("y").Build();

        var graph = IlgpuEngine.PrepareGraph(model, "concat read twice", null);

        Assert.Contains("Relu", graph.Nodes.Select(n => n.OpType));
        AssertParity("concat read twice", model, [2, 3, 4, 4], exact: true);
    }

    /// <summary>CenterNet's head: relu(concat) gated by its own squeeze-excite (mean, 1×1 + ReLU, 1×1 + sigmoid), the
    /// gated tensor read by two depthwise 3×3 branches (class and size outputs).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_gate_read_by_two_depthwise_branches_is_applied_inside_both(bool gateFirst)
    {
        const int channels = 8;
        var model = new TinyOnnxGraph().Input("x", channels, 6, 7)
            .Random("s1", 21, 4, channels, 1, 1).Random("s2", 22, channels, 4, 1, 1)
            .Random("dw1", 23, channels, 1, 3, 3).Random("b1", 24, channels).Random("dw2", 25, channels, 1, 3, 3)
            .Node("ReduceMean", ["x"], ["m"], ("axes", new[] { 2, 3 }), ("keepdims", 1))
            .Node("Conv", ["m", "s1"], ["f"]).Node("Relu", ["f"], ["fr"]).Node("Conv", ["fr", "s2"], ["g"]).Node("Sigmoid", ["g"], ["gate"])
            .Node("Mul", gateFirst ? ["gate", "x"] : ["x", "gate"], ["gated"])
            .Node("Conv", ["gated", "dw1", "b1"], ["cls"], ("group", channels), ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Conv", ["gated", "dw2"], ["wh"], ("group", channels), ("pads", new[] { 1, 1, 1, 1 }))
            .Output("cls").Output("wh").Build();

        var graph = IlgpuEngine.PrepareGraph(model, "gated branches", null);

        Assert.DoesNotContain("Mul", graph.Nodes.Select(n => n.OpType));
        Assert.All(graph.Nodes.TakeLast(2), conv => Assert.Equal(5, conv.Inputs.Count));
        using var engine = IlgpuEngine.Load(model, "gated branches", IlgpuTarget.CpuAccelerator);
        var kinds = engine.Profile(batchSize: 2, iterations: 1).Select(s => s.Kind).ToList();
        Assert.Equal(2, kinds.Count(k => k.StartsWith("Conv depthwise")));
        Assert.DoesNotContain("Mul", kinds);
        AssertParity($"gate {(gateFirst ? "first" : "second")}", model, [2, channels, 6, 7]);
    }

    [Fact]
    public void A_gated_tensor_that_one_reader_cannot_scale_is_multiplied_once()
    {
        // The same gate before a depthwise branch and a dense 3×3 convolution, which takes the product.
        var model = new TinyOnnxGraph().Input("x", 4, 5, 5)
            .Random("s", 31, 4, 4, 1, 1).Random("dw", 32, 4, 1, 3, 3).Random("dense", 33, 3, 4, 3, 3).Random("pw", 34, 2, 4, 1, 1)
            .Node("GlobalAveragePool", ["x"], ["m"]).Node("Conv", ["m", "s"], ["g"]).Node("Sigmoid", ["g"], ["gate"])
            .Node("Mul", ["x", "gate"], ["gated"])
            .Node("Conv", ["gated", "dw"], ["a"], ("group", 4), ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Conv", ["gated", "dense"], ["b"], ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Conv", ["gated", "pw"], ["c"])
            .Output("a").Output("b").Output("c").Build();

        var graph = IlgpuEngine.PrepareGraph(model, "mixed readers", null);
        Assert.DoesNotContain("Mul", graph.Nodes.Select(n => n.OpType));

        using var engine = IlgpuEngine.Load(model, "mixed readers", IlgpuTarget.CpuAccelerator);
        Assert.Single(engine.Profile(batchSize: 2, iterations: 1), s => s.Kind == "Conv");
        AssertParity("gate before depthwise, dense and pointwise", model, [2, 4, 5, 5]);
    }

    /// <summary>Values on a coarse grid, so that windows hold ties (both kept, as Equal says) and whole flat regions.</summary>
    [Theory]
    [InlineData("SAME_UPPER", true)]
    [InlineData("NOTSET", true)]
    [InlineData("SAME_UPPER", false)]
    public void The_peak_test_before_the_top_k_runs_as_one_kernel(string autoPad, bool transposed)
    {
        var graph = new TinyOnnxGraph().Input("x", 5, 6, 7);
        (string, object)[] padding = autoPad == "NOTSET" ? [("pads", new[] { 1, 1, 1, 1 })] : [("auto_pad", autoPad)];
        graph.Node("MaxPool", ["x"], ["pooled"], [("kernel_shape", new[] { 3, 3 }), ("strides", new[] { 1, 1 }), .. padding])
            .Node("Equal", ["x", "pooled"], ["same"]).Node("Cast", ["same"], ["mask"], ("to", 1)).Node("Mul", ["x", "mask"], ["peaks"]);
        if (transposed) graph.Node("Transpose", ["peaks"], ["y"], ("perm", new[] { 0, 2, 3, 1 }));
        else graph.Node("Identity", ["peaks"], ["y"]);
        var model = graph.Output("y").Build();

        var prepared = IlgpuEngine.PrepareGraph(model, "peaks", null);

        Assert.Equal(PeakFusion.Peaks, prepared.Nodes[0].OpType);
        Assert.DoesNotContain(prepared.Nodes, n => n.OpType is "MaxPool" or "Equal" or "Cast" or "Mul" or "Transpose");
        var input = TinyOnnxGraph.RandomValues(41, 2 * 5 * 6 * 7).Select(v => MathF.Round(v * 2) / 2).ToArray();
        float error = OrtParity.MaxAbsError(model, [2, 5, 6, 7], input);
        log.WriteLine($"peaks ({autoPad}, {(transposed ? "NHWC" : "NCHW")}): max abs error {error:E2}");
        Assert.Equal(0f, error);
    }

    [Fact]
    public void A_strided_max_pool_is_no_peak_test()
    {
        var model = new TinyOnnxGraph().Input("x", 2, 6, 6)
            .Node("MaxPool", ["x"], ["pooled"], ("kernel_shape", new[] { 2, 2 }), ("strides", new[] { 2, 2 }))
            .Node("Relu", ["pooled"], ["y"]).Output("y").Build();

        Assert.Contains("MaxPool", IlgpuEngine.PrepareGraph(model, "pool", null).Nodes.Select(n => n.OpType));
    }

    [Fact]
    public void The_default_models_head_loads_with_the_fusions()
    {
        var model = File.ReadAllBytes(Path.Combine(TestPaths.Models, "centernet-mnv3.onnx"));

        var graph = IlgpuEngine.PrepareGraph(model, "centernet-mnv3", ["detections"]);

        var ops = graph.Nodes.Select(n => n.OpType).ToList();
        Assert.DoesNotContain("MaxPool", ops);
        Assert.DoesNotContain("Relu", ops);
        var peaks = Assert.Single(graph.Nodes, n => n.OpType == PeakFusion.Peaks);
        Assert.Equal(1, peaks.Int(PeakFusion.ChannelsLast, 0));
        Assert.Equal(3, graph.Nodes.Count(n => n.OpType == "Concat" && n.Fused.Function == UnaryFunction.Relu));
        // Of the nine squeeze-excite gates, the backbone's three narrow ones and the head's are single launches; the
        // five of 384 to 720 channels keep their mean and two 1×1 Conv launches (too large for one group).
        Assert.Equal(4, graph.Nodes.Count(n => n.OpType == SqueezeFusion.SqueezeMlp));
        Assert.Equal(5, ops.Count(op => op == "ReduceMean"));
        Assert.All(graph.Nodes.Where(n => n.Name.Contains("separable_conv2d/depthwise") && n.Name.Contains("_output")),
            conv => Assert.Equal(5, conv.Inputs.Count));
    }

    /// <summary>CenterNet's upsampling head: concat(pointwise conv of the lateral, bilinear upsampling of the coarser
    /// map) with a Relu, at batch 2 (slices of the output images apart): both inputs written in place, no copy.</summary>
    [Fact]
    public void Concat_inputs_from_a_convolution_and_a_resize_are_written_in_place()
    {
        var model = new TinyOnnxGraph().Input("x", 6, 8, 8).Random("lateral", 51, 5, 6, 1, 1).Random("down", 52, 4, 6, 3, 3)
            .Floats("scales", [1f, 1f, 2f, 2f], 4).Random("after", 53, 3, 9, 1, 1)
            .Node("Conv", ["x", "lateral"], ["l"])
            .Node("Conv", ["x", "down"], ["d"], ("strides", new[] { 2, 2 }), ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Resize", ["d", "", "scales"], ["up"], ("mode", "linear"))
            .Node("Concat", ["l", "up"], ["c"], ("axis", 1)).Node("Relu", ["c"], ["r"]).Node("Conv", ["r", "after"], ["y"]).Output("y").Build();
        using var engine = IlgpuEngine.Load(model, "upsampling head", IlgpuTarget.CpuAccelerator);

        Assert.DoesNotContain("Concat", engine.Profile(batchSize: 2, iterations: 1).Select(s => s.Kind));
        AssertParity("concat written in place", model, [2, 6, 8, 8]);
    }

    [Fact]
    public void Concat_inputs_read_elsewhere_or_with_their_own_activation_are_copied()
    {
        // "a" is also added to the result; "b" has its own Sigmoid, so it cannot take the Concat's Relu too.
        var model = new TinyOnnxGraph().Input("x", 4, 5, 5).Random("wa", 54, 3, 4, 1, 1).Random("wb", 55, 3, 4, 1, 1).Random("wc", 56, 2, 4, 1, 1)
            .Node("Conv", ["x", "wa"], ["a"]).Node("Conv", ["x", "wb"], ["bc"]).Node("Sigmoid", ["bc"], ["b"]).Node("Conv", ["x", "wc"], ["c"])
            .Node("Concat", ["a", "b", "c"], ["cat"], ("axis", 1)).Node("Relu", ["cat"], ["r"])
            .Node("Slice", ["r", "start", "end", "axes"], ["first"]).Node("Add", ["first", "a"], ["y"])
            .Longs("start", 0).Longs("end", 3).Longs("axes", 1).Output("y").Build();
        using var engine = IlgpuEngine.Load(model, "concat kept", IlgpuTarget.CpuAccelerator);

        // Two copies (a, b); c is written in place.
        Assert.Equal(2, engine.Profile(batchSize: 2, iterations: 1).Count(s => s.Kind == "Concat"));
        AssertParity("concat partly copied", model, [2, 4, 5, 5]);
    }

    private void AssertParity(string what, byte[] model, int[] inputShape, bool exact = false)
    {
        float error = OrtParity.MaxAbsError(model, inputShape);
        log.WriteLine($"{what}: max abs error {error:E2}");
        Assert.True(exact ? error == 0 : error <= 2e-5f, $"{what}: max abs error {error}");
    }
}
