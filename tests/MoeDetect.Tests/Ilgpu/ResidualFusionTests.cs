using MoeDetect.Model.Ilgpu;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Add(pointwise Conv, residual) computed in the GEMM's epilogue: no Add left in the loaded graph, the same
/// outputs as ONNX Runtime; a residual of another shape (broadcast) still adds correctly, separately.</summary>
public sealed class ResidualFusionTests(ITestOutputHelper log)
{
    [Fact]
    public void A_skip_connection_after_a_projection_is_added_in_the_convolution()
    {
        // MobileNet's inverted residual: expand (1×1 + ReLU), project (1×1, bias), add the block input.
        var model = new TinyOnnxGraph().Input("x", 4, 6, 7).Random("w1", 1, 8, 4, 1, 1).Random("w2", 2, 4, 8, 1, 1).Random("b2", 3, 4)
            .Node("Conv", ["x", "w1"], ["e"]).Node("Relu", ["e"], ["r"]).Node("Conv", ["r", "w2", "b2"], ["p"])
            .Node("Add", ["x", "p"], ["y"]).Output("y").Build();

        var graph = IlgpuEngine.PrepareGraph(model, "residual", null);

        Assert.Equal(["Conv", "Conv"], graph.Nodes.Select(n => n.OpType));
        AssertParity("project + residual", model, [2, 4, 6, 7]);
    }

    [Fact]
    public void An_activation_comes_before_the_residual_and_a_broadcast_residual_adds_separately()
    {
        var model = new TinyOnnxGraph().Input("x", 4, 5, 5).Random("w1", 4, 4, 4, 1, 1).Random("w2", 5, 4, 4, 1, 1)
            .Node("Conv", ["x", "w1"], ["c1"]).Node("Relu", ["c1"], ["a"]).Node("Add", ["a", "x"], ["y1"])
            .Node("GlobalAveragePool", ["x"], ["g"]).Node("Conv", ["x", "w2"], ["c2"]).Node("Add", ["c2", "g"], ["y2"])
            .Output("y1").Output("y2").Build();

        AssertParity("relu then residual; broadcast residual", model, [2, 4, 5, 5]);
    }

    private void AssertParity(string what, byte[] model, int[] inputShape)
    {
        float error = OrtParity.MaxAbsError(model, inputShape, scale: 2f);
        log.WriteLine($"{what}: max abs error {error:E2}");
        Assert.True(error <= 1e-5f, $"{what}: max abs error {error}");
    }
}
