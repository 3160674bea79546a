using System.IO.Compression;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>TensorFlow's bilinear ×2 written out per axis in slices, arithmetic and an interleaving Concat (the ES-MoE
/// export's <c>upsample2x</c>) runs as one Resize per axis (<see cref="UpsampleFusion"/>), with ONNX Runtime's outputs
/// of the graph as written.</summary>
public sealed class UpsampleFusionTests(ITestOutputHelper log)
{
    [Fact]
    public void A_bilinear_doubling_written_out_per_axis_becomes_two_resizes()
    {
        var graph = new TinyOnnxGraph().Input("x", 3, 5, 7).Random("w", 91, 4, 3, 1, 1).Longs("one", 1).Longs("zero", 0)
            .Longs("minus_one", -1).Longs("five", 5).Floats("half", [0.5f]).Node("Conv", ["x", "w"], ["t"]);
        var model = DoubleAlong(DoubleAlong(graph, "t", 2, "h"), "h", 3, "y").Output("y").Build();

        var ops = IlgpuEngine.PrepareGraph(model, "upsample2x", null).Nodes.Select(n => n.OpType).ToList();

        Assert.Equal(["Conv", "Resize", "Resize"], ops);
        AssertParity("bilinear ×2 of 4 channels at 5 × 7", model, [2, 3, 5, 7]);
    }

    /// <summary>The same graph wrapping around at the edge (the first row after the last, not the last again).</summary>
    [Fact]
    public void Another_edge_is_left_as_written()
    {
        var graph = new TinyOnnxGraph().Input("x", 2, 6, 4).Longs("one", 1).Longs("zero", 0).Longs("minus_one", -1).Longs("five", 5)
            .Floats("half", [0.5f]).Node("Relu", ["x"], ["t"]);
        var model = DoubleAlong(graph, "t", 2, "y", wrapAround: true).Output("y").Build();

        Assert.DoesNotContain("Resize", IlgpuEngine.PrepareGraph(model, "wrapping around", null).Nodes.Select(n => n.OpType));
        AssertParity("wrapping around", model, [2, 2, 6, 4]);
    }

    /// <summary>The ES-MoE model's up3 expert as stored: its separable convolution, then the written-out doubling.</summary>
    [Fact]
    public void The_es_moe_upsampling_expert_runs_two_resizes()
    {
        using var zip = ZipFile.OpenRead(Path.Combine(TestPaths.Models, "esmoe-centernet.moedet"));
        using var stream = new MemoryStream();
        zip.GetEntry("up3.e1.onnx")!.Open().CopyTo(stream);
        var model = stream.ToArray();

        var ops = IlgpuEngine.PrepareGraph(model, "up3.e1", null).Nodes.Select(n => n.OpType).ToList();

        Assert.Equal(2, ops.Count(op => op == "Resize"));
        Assert.DoesNotContain("Slice", ops);
        Assert.DoesNotContain("Concat", ops);
        AssertParity("up3 expert (192 channels at 64 × 64)", model, [1, 192, 64, 64]);
    }

    /// <summary>One axis of the export's upsample2x: next = Concat(t[1:n], t[n − 1:n]) (or t[0:1], wrapping around);
    /// o = t + (next − t)·½; Concat(Unsqueeze(t), Unsqueeze(o)) at axis + 1; Reshape merging that pair, the bounds
    /// computed from Shape as the export computes them.</summary>
    private static TinyOnnxGraph DoubleAlong(TinyOnnxGraph g, string t, int axis, string output, bool wrapAround = false)
    {
        string p = output + "_";
        g.Longs(p + "axis", axis).Longs(p + "pair", axis + 1).Longs(p + "tail", axis + 2)
            .Node("Shape", [t], [p + "shape"]).Node("Gather", [p + "shape", p + "axis"], [p + "n"])
            .Node("Sub", [p + "n", "one"], [p + "before_last"]).Node("Add", ["one", p + "before_last"], [p + "n_again"])
            .Node("Slice", [t, "one", p + "n_again", p + "axis"], [p + "rest"])
            .Node("Slice", wrapAround ? [t, "zero", "one", p + "axis"] : [t, p + "before_last", p + "n_again", p + "axis"], [p + "last"])
            .Node("Concat", [p + "rest", p + "last"], [p + "next"], ("axis", axis))
            .Node("Sub", [p + "next", t], [p + "step"]).Node("Mul", [p + "step", "half"], [p + "half_step"])
            .Node("Add", [t, p + "half_step"], [p + "between"])
            .Node("Unsqueeze", [t, p + "pair"], [p + "u0"]).Node("Unsqueeze", [p + "between", p + "pair"], [p + "u1"])
            .Node("Concat", [p + "u0", p + "u1"], [p + "pairs"], ("axis", axis + 1))
            .Node("Shape", [p + "pairs"], [p + "pairs_shape"])
            .Node("Slice", [p + "pairs_shape", "zero", p + "axis", "zero"], [p + "head"]);
        if (axis + 2 < 5)
            g.Node("Slice", [p + "pairs_shape", p + "tail", "five", "zero"], [p + "rest_dims"])
                .Node("Concat", [p + "head", "minus_one", p + "rest_dims"], [p + "target"], ("axis", 0));
        else g.Node("Concat", [p + "head", "minus_one"], [p + "target"], ("axis", 0));
        return g.Node("Reshape", [p + "pairs", p + "target"], [output]);
    }

    private void AssertParity(string what, byte[] model, int[] inputShape)
    {
        float error = OrtParity.MaxAbsError(model, inputShape);
        log.WriteLine($"{what}: max abs error {error:E2}");
        Assert.True(error <= 1e-4f, $"{what}: max abs error {error}");
    }
}
