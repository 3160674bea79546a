using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Load-time layout rewriting: TensorFlow's NHWC transposes sink below layout-agnostic operators and cancel,
/// and TensorFlow's arithmetic hard-swish / hard-sigmoid fuse into convolutions; results stay those of ONNX Runtime.</summary>
public sealed class LayoutRewriteTests(ITestOutputHelper log)
{
    private const float FpSixteenSixth = 0.1666259765625f; // ⅙ as the converted models store it

    [Fact]
    public void A_TensorFlow_MobileNetV3_block_runs_NCHW_without_transposes()
    {
        var model = new TinyOnnxGraph().Input("x", 4, 6, 5)
            .Random("w1", 1, 8, 4, 1, 1).Random("w2", 2, 8, 8, 1, 1).Random("w3", 3, 3, 12, 1, 1).Random("bias", 4, 8)
            .Floats("k", [FpSixteenSixth]).Floats("three", [3f]).Floats("zero", [0f]).Floats("six", [6f])
            .Longs("axes", 1, 2).Longs("starts", 2).Longs("ends", 14).Longs("slice_axes", 3)
            .Node("Conv", ["x", "w1"], ["c"]).Node("Transpose", ["c"], ["cn"], ("perm", new[] { 0, 2, 3, 1 }))
            // hard-swish as TensorFlow writes it
            .Node("Mul", ["k", "cn"], ["m"]).Node("Add", ["cn", "three"], ["a"]).Node("Clip", ["a", "zero", "six"], ["r"])
            .Node("Mul", ["m", "r"], ["hs"])
            // squeeze-excite: mean over H, W (NHWC axes), 1×1 conv, hard-sigmoid gate, per-channel scale
            .Node("ReduceMean", ["hs"], ["mean"], ("axes", new[] { 1, 2 }), ("keepdims", 1))
            .Node("Transpose", ["mean"], ["mean_nchw"], ("perm", new[] { 0, 3, 1, 2 })).Node("Conv", ["mean_nchw", "w2"], ["g"])
            .Node("Transpose", ["g"], ["gn"], ("perm", new[] { 0, 2, 3, 1 }))
            .Node("Add", ["gn", "three"], ["ga"]).Node("Clip", ["ga", "zero", "six"], ["gr"]).Node("Mul", ["gr", "k"], ["gate"])
            .Node("Mul", ["hs", "gate"], ["se"])
            // per-channel constant on NHWC's last axis, residual add, concat and slice along channels
            .Node("Add", ["se", "bias"], ["sb"]).Node("Add", ["sb", "hs"], ["res"])
            .Node("Concat", ["res", "hs"], ["cat"], ("axis", 3)).Node("Slice", ["cat", "starts", "ends", "slice_axes"], ["sl"])
            .Node("Transpose", ["sl"], ["sl_nchw"], ("perm", new[] { 0, 3, 1, 2 })).Node("Conv", ["sl_nchw", "w3"], ["y"])
            .Output("y").Build();
        var graph = OnnxGraph.Parse(model, "test");
        GraphFusion.Apply(graph);
        Assert.Equal(["Conv", "ReduceMean", "Conv", "Mul", "Add", "Add", "Concat", "Slice", "Conv"], graph.Nodes.Select(n => n.OpType));
        Assert.Equal(UnaryFunction.HardSwishRelu6, graph.Nodes[0].Fused.Function);
        Assert.Equal(UnaryFunction.HardSigmoidRelu6, graph.Nodes[2].Fused.Function);
        Assert.Equal(FpSixteenSixth, graph.Nodes[2].Fused.Alpha);
        float error = OrtParity.MaxAbsError(model, [2, 4, 6, 5], scale: 4f);
        log.WriteLine($"max abs error vs ONNX Runtime: {error}");
        Assert.True(error < 2e-5f, $"max abs error {error}");
    }

    [Fact]
    public void Transposes_sink_through_resize_and_split_with_their_scales_and_axis_moved()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 5, 4).Random("w1", 1, 4, 3, 1, 1).Random("w2", 2, 2, 2, 3, 3)
            .Floats("scales", [1f, 2f, 3f, 1f], 4).Longs("split", 2, 2)
            .Node("Conv", ["x", "w1"], ["c"]).Node("Transpose", ["c"], ["cn"], ("perm", new[] { 0, 2, 3, 1 }))
            .Node("Resize", ["cn", "", "scales"], ["up"], ("mode", "nearest"))
            .Node("Split", ["up", "split"], ["s0", "s1"], ("axis", 3)).Node("Sub", ["s0", "s1"], ["d"])
            .Node("Transpose", ["d"], ["d_nchw"], ("perm", new[] { 0, 3, 1, 2 }))
            .Node("Conv", ["d_nchw", "w2"], ["y"], ("pads", new[] { 1, 1, 1, 1 })).Output("y").Build();
        var graph = OnnxGraph.Parse(model, "test");
        GraphFusion.Apply(graph);
        Assert.Equal(["Conv", "Resize", "Split", "Sub", "Conv"], graph.Nodes.Select(n => n.OpType));
        Assert.True(OrtParity.MaxAbsError(model, [2, 3, 5, 4], scale: 2f) < 2e-5f);
    }

    [Fact]
    public void A_transpose_whose_reader_needs_the_layout_stays()
    {
        // Reshape depends on the memory order, so the transpose in front of it must survive.
        var model = new TinyOnnxGraph().Input("x", 2, 3, 4).Longs("flat", 0, -1)
            .Node("Transpose", ["x"], ["t"], ("perm", new[] { 0, 2, 3, 1 })).Node("Relu", ["t"], ["r"])
            .Node("Reshape", ["r", "flat"], ["y"]).Output("y").Build();
        var graph = OnnxGraph.Parse(model, "test");
        GraphFusion.Apply(graph);
        Assert.Equal(["Relu", "Transpose", "Reshape"], graph.Nodes.Select(n => n.OpType));
        Assert.True(OrtParity.MaxAbsError(model, [2, 2, 3, 4]) == 0f);
    }

    [Fact]
    public void TensorFlow_explicit_pads_and_bias_adds_fold_into_the_conv_and_max_pool()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 6, 7).Random("w", 1, 4, 3, 3, 3).Random("bias", 2, 4)
            .Longs("pads", 0, 1, 2, 0, 0, 1, 0, 0).Longs("pool_pads", 0, 1, 1, 0, 0, 1, 1, 0).Floats("lowest", [float.NegativeInfinity])
            .Node("Transpose", ["x"], ["xn"], ("perm", new[] { 0, 2, 3, 1 })).Node("Pad", ["xn", "pads"], ["padded"])
            .Node("Transpose", ["padded"], ["p_nchw"], ("perm", new[] { 0, 3, 1, 2 }))
            .Node("Conv", ["p_nchw", "w"], ["c"], ("auto_pad", "VALID")).Node("Transpose", ["c"], ["cn"], ("perm", new[] { 0, 2, 3, 1 }))
            .Node("Add", ["cn", "bias"], ["biased"]).Node("LeakyRelu", ["biased"], ["r"], ("alpha", 0.1f))
            .Node("Pad", ["r", "pool_pads", "lowest"], ["rp"]).Node("Transpose", ["rp"], ["rp_nchw"], ("perm", new[] { 0, 3, 1, 2 }))
            .Node("MaxPool", ["rp_nchw"], ["y"], ("kernel_shape", new[] { 3, 3 }), ("strides", new[] { 2, 2 })).Output("y").Build();
        var graph = OnnxGraph.Parse(model, "test");
        GraphFusion.Apply(graph);
        Assert.Equal(["Conv", "MaxPool"], graph.Nodes.Select(n => n.OpType));
        Assert.Equal(UnaryFunction.LeakyRelu, graph.Nodes[0].Fused.Function);
        Assert.True(OrtParity.MaxAbsError(model, [2, 3, 6, 7], scale: 2f) < 2e-5f);
    }

    /// <summary>PyTorch's F.pad for TensorFlow-style "same" padding computes the pads from constants (the ES-MoE pieces'
    /// 47 Pads): folded first by ONNX Runtime, then into the depthwise Conv's own padding, so no copy of the feature map.</summary>
    [Fact]
    public void A_pad_computed_from_constants_folds_into_the_conv()
    {
        var model = new TinyOnnxGraph().Input("x", 4, 9, 10).Random("w", 5, 4, 1, 3, 3)
            .Longs("end_pads", 0, 0, 0, 0, 0, 0, 1, 1).Longs("zero", 0)
            .Node("Add", ["end_pads", "zero"], ["pads"]).Node("Pad", ["x", "pads"], ["padded"])
            .Node("Conv", ["padded", "w"], ["y"], ("group", 4), ("strides", new[] { 2, 2 })).Output("y").Build();

        var graph = IlgpuEngine.PrepareGraph(model, "computed pads", null);

        Assert.Equal(["Conv"], graph.Nodes.Select(n => n.OpType));
        Assert.Equal([0L, 0, 1, 1], graph.Nodes[0].Ints("pads")!);
        Assert.True(OrtParity.MaxAbsError(model, [2, 4, 9, 10]) < 2e-5f);
    }

    [Fact]
    public void The_NanoDet_model_runs_without_pads_and_with_its_boundary_transposes_only()
    {
        string path = Path.Combine(TestPaths.Models, "nanodet-g.onnx");
        var model = File.ReadAllBytes(path);
        var parsed = OnnxGraph.Parse(model, "nanodet");
        using var engine = IlgpuEngine.Load(model, path, IlgpuTarget.CpuAccelerator);
        var summary = engine.Summary(1);
        log.WriteLine($"{parsed.Nodes.Count} nodes ({parsed.Nodes.Count(n => n.OpType == "Transpose")} Transpose, " +
                      $"{parsed.Nodes.Count(n => n.OpType == "Pad")} Pad) as stored; after load: {summary}");
        Assert.True(summary.Transposes <= 6, summary.ToString());
        Assert.True(summary.Launches <= 80, summary.ToString()); // 82 before residual Adds went into the GEMM epilogue; no squeeze-excite; it did not load before (Pad)
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void The_NanoDet_model_matches_ONNX_Runtime_after_the_rewrites()
    {
        string path = Path.Combine(TestPaths.Models, "nanodet-g.onnx");
        var model = File.ReadAllBytes(path);
        int[] shape = [1, .. OnnxGraph.Parse(model, "nanodet").InputShape.Skip(1)];
        // A wrongly folded pad (value or side) shows at every border of every feature map.
        float error = OrtParity.MaxAbsError(model, shape, seed: 3, scale: 1f);
        log.WriteLine($"nanodet-g, input [{string.Join(",", shape)}]: max abs error vs ONNX Runtime {error}");
        Assert.True(error < 1e-3f, $"max abs error {error}");
    }

    [Fact]
    public void The_CenterNet_model_keeps_only_its_boundary_transposes_and_counts_its_launches()
    {
        var model = File.ReadAllBytes(TestPaths.DefaultModel);
        var parsed = OnnxGraph.Parse(model, "centernet");
        int transposesBefore = parsed.Nodes.Count(n => n.OpType == "Transpose");
        using var engine = IlgpuEngine.Load(model, TestPaths.DefaultModel, IlgpuTarget.CpuAccelerator);
        var summary = engine.Summary(1);
        log.WriteLine($"{parsed.Nodes.Count} nodes ({transposesBefore} Transpose) as stored; after load: {summary}");
        // Left: the NHWC heatmap and wh outputs and the reshapes that read them in that order; the NHWC input's is read
        // channels first (InputTransposeFolding).
        Assert.Equal(186, transposesBefore);
        Assert.True(summary.Transposes <= 3, summary.ToString());
        // 175 → 162 with the 13 residual Adds in the GEMM epilogue, → 154 with the 8 squeeze-excite scales in its prologue,
        // → 124 with the later fusions (squeeze MLPs, peaks, repeated decoder arithmetic), → 123 with the input read
        // channels first; about 400 before the rewrite.
        Assert.True(summary.Launches <= 123, summary.ToString());
        Assert.Equal(summary.Launches, summary.DeviceSubmissions); // no CUDA graphs on the CPU accelerator
        Assert.False(summary.CudaGraphs);
    }
}
