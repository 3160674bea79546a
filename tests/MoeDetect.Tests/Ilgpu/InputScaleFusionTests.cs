using MoeDetect.Model.Ilgpu;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>A squeeze-excite scale Mul(x, s) read only by a pointwise Conv is applied as the GEMM loads x: no Mul left
/// in the loaded graph, the same outputs as ONNX Runtime with the scale on either side, on the tiled, split-K and warp
/// kernels; operands that are not a per-channel scale against the data are multiplied separately.</summary>
public sealed class InputScaleFusionTests(ITestOutputHelper log)
{
    /// <summary>MobileNetV3's block tail: expand (1×1 + ReLU), squeeze-excite (global mean, FC + ReLU, FC + hard-sigmoid),
    /// scale, project (1×1, bias) and add the block input.</summary>
    private static byte[] SqueezeExcite(int channels, int expanded, int height, int width, bool scaleFirst) =>
        new TinyOnnxGraph().Input("x", channels, height, width)
            .Random("we", 1, expanded, channels, 1, 1).Random("w1", 2, 8, expanded, 1, 1).Random("w2", 3, expanded, 8, 1, 1)
            .Random("b2", 4, expanded).Random("wp", 5, channels, expanded, 1, 1).Random("bp", 6, channels)
            .Node("Conv", ["x", "we"], ["e"]).Node("Relu", ["e"], ["er"])
            .Node("GlobalAveragePool", ["er"], ["pooled"]).Node("Conv", ["pooled", "w1"], ["f1"]).Node("Relu", ["f1"], ["f1r"])
            .Node("Conv", ["f1r", "w2", "b2"], ["f2"]).Node("HardSigmoid", ["f2"], ["gate"])
            .Node("Mul", scaleFirst ? ["gate", "er"] : ["er", "gate"], ["scaled"])
            .Node("Conv", ["scaled", "wp", "bp"], ["p"]).Node("Add", ["p", "x"], ["y"]).Output("y").Build();

    [Theory]
    [InlineData(24, 48, 7, 9, false)]  // tiled GEMM
    [InlineData(24, 48, 7, 9, true)]   // the scale as the Mul's first operand
    [InlineData(40, 160, 6, 5, true)]  // 160 channels on 30 pixels: split-K, the scale applied in every slice
    [InlineData(16, 36, 2, 2, false)]  // 4 pixels: the warp kernel
    public void A_squeeze_excite_scale_is_applied_as_the_projection_loads_its_input(int channels, int expanded, int height, int width, bool scaleFirst)
    {
        var model = SqueezeExcite(channels, expanded, height, width, scaleFirst);

        var graph = IlgpuEngine.PrepareGraph(model, "squeeze-excite", null);

        // The gate's mean and two 1×1 layers are one squeeze (SqueezeFusion); its output scales the projection's input.
        Assert.Equal(["Conv", SqueezeFusion.SqueezeMlp, "Conv"], graph.Nodes.Select(n => n.OpType));
        Assert.Equal(5, graph.Nodes[^1].Inputs.Count); // data, weights, bias, residual, scale
        AssertParity($"squeeze-excite {expanded} channels at {height}×{width}, scale {(scaleFirst ? "first" : "second")}", model, [2, channels, height, width]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Operands_that_are_not_a_per_channel_scale_are_multiplied_first(bool spatialFirst)
    {
        // A spatial gate [N, 1, H, W] (mean over channels) and the product of two full-size tensors.
        var model = new TinyOnnxGraph().Input("x", 6, 5, 7).Random("w1", 7, 6, 6, 1, 1).Random("w2", 8, 4, 6, 1, 1).Random("w3", 9, 4, 6, 1, 1)
            .Node("ReduceMean", ["x"], ["spatial"], ("axes", new[] { 1 }), ("keepdims", 1))
            .Node("Mul", spatialFirst ? ["spatial", "x"] : ["x", "spatial"], ["gated"]).Node("Conv", ["gated", "w2"], ["y1"])
            .Node("Conv", ["x", "w1"], ["c"]).Node("Mul", ["c", "x"], ["product"]).Node("Conv", ["product", "w3"], ["y2"])
            .Output("y1").Output("y2").Build();

        var graph = IlgpuEngine.PrepareGraph(model, "gates", null);

        Assert.DoesNotContain("Mul", graph.Nodes.Select(n => n.OpType));
        AssertParity($"spatial gate {(spatialFirst ? "first" : "second")}, full-size product", model, [2, 6, 5, 7]);
    }

    private void AssertParity(string what, byte[] model, int[] inputShape)
    {
        float error = OrtParity.MaxAbsError(model, inputShape);
        log.WriteLine($"{what}: max abs error {error:E2}");
        Assert.True(error <= 2e-5f, $"{what}: max abs error {error}");
    }
}
