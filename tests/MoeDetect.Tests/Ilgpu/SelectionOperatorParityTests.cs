using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The operators the ES-MoE model's PyTorch export added (Pad, Where, GatherElements, Not/And/Or/Xor)
/// against ONNX Runtime (CPU) on tiny graphs, batch 2, on ILGPU's CPU accelerator.</summary>
public sealed class SelectionOperatorParityTests(ITestOutputHelper log)
{
    private void AssertParity(string what, byte[] model, int[] inputShape, float bound)
    {
        float error = OrtParity.MaxAbsError(model, inputShape);
        log.WriteLine($"{what}: max abs error {error:E2}");
        Assert.True(error <= bound, $"{what}: max abs error {error} exceeds {bound}");
    }

    [Fact]
    public void Constant_pad_before_a_depthwise_convolution_and_with_a_pad_value()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 5, 6).Random("dw", 4, 3, 1, 3, 3).Floats("half", [0.5f])
            .Longs("pads", 0, 0, 1, 2, 0, 0, 2, 1).Longs("pads2", 0, 1, 0, 1, 0, 0, 2, 0)
            .Node("Pad", ["x", "pads"], ["p"], ("mode", "constant"))
            .Node("Conv", ["p", "dw"], ["y"], ("group", 3))
            .Node("Pad", ["x", "pads2", "half"], ["z"])
            .Output("y").Output("z").Build();
        AssertParity("Pad (0) + depthwise Conv; Pad (0.5) on three axes", model, [2, 3, 5, 6], bound: 2e-6f);
    }

    [Fact]
    public void Floor_division_fix_up_and_box_gathering_as_the_exported_detection_tail_does()
    {
        // idx = top-7 cells of 60; row = floor(idx / 5) via the Mod/Less/Xor/Not/And/Where pattern PyTorch exports;
        // then the 3 values of each picked row gathered with GatherElements.
        var model = new TinyOnnxGraph().Input("x", 3, 4, 5)
            .Longs("flat", 0, -1).Longs("rows3", 0, 20, 3).Longs("k", 7).Longs("five", 5).Longs("zero", 0).Longs("one", 1)
            .Longs("axis2", 2).Longs("expand", 1, 1, 3)
            .Node("Reshape", ["x", "flat"], ["f"]).Node("TopK", ["f", "k"], ["scores", "idx"], ("axis", 1))
            .Node("Div", ["idx", "five"], ["div"]).Node("Mod", ["idx", "five"], ["mod"])
            .Node("Less", ["idx", "zero"], ["negative"]).Node("Less", ["five", "zero"], ["negativeDivisor"])
            .Node("Xor", ["negative", "negativeDivisor"], ["signsDiffer"])
            .Node("Equal", ["mod", "zero"], ["exact"]).Node("Not", ["exact"], ["inexact"])
            .Node("And", ["signsDiffer", "inexact"], ["fix"]).Node("Or", ["negative", "inexact"], ["either"])
            .Node("Sub", ["div", "one"], ["lower"]).Node("Where", ["fix", "lower", "div"], ["row"])
            .Node("Cast", ["row"], ["rowFloat"], ("to", 1)).Node("Cast", ["either"], ["eitherFloat"], ("to", 1))
            .Node("Reshape", ["x", "rows3"], ["table"]).Node("Unsqueeze", ["row", "axis2"], ["row1"])
            .Node("Expand", ["row1", "expand"], ["rowIndex"])
            .Node("GatherElements", ["table", "rowIndex"], ["picked"], ("axis", 1))
            .Output("scores").Output("rowFloat").Output("eitherFloat").Output("picked").Build();
        AssertParity("TopK + floor-division Where pattern + GatherElements", model, [2, 3, 4, 5], bound: 0);
    }
}
