using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The activations kernels compute as they store, each compiled in as a constant (<see cref="IFusedFunction"/>,
/// <see cref="FusedFunction"/>): every one a graph can fuse reaches the epilogues as itself.</summary>
public sealed class FusedFunctionTests(ITestOutputHelper log)
{
    private sealed class FunctionOf : IFusedFunctionUse<UnaryFunction>
    {
        public UnaryFunction For<TFunction>() where TFunction : struct, IFusedFunction => default(TFunction).Function;
    }

    [Fact]
    public void Every_fusable_function_has_its_own_type_and_no_other_function_has_one()
    {
        foreach (var f in Enum.GetValues<UnaryFunction>())
            if (Activation.IsFusable(f)) Assert.Equal(f, FusedFunctions.Apply(f, new FunctionOf()));
            else Assert.Throws<ArgumentException>(() => FusedFunctions.Apply(f, new FunctionOf()));
    }

    [Fact]
    public void A_function_the_epilogues_do_not_compute_cannot_be_fused_into_a_node()
    {
        var conv = new GraphNode("Conv", "conv", ["x", "w"], ["y"], new Dictionary<string, Onnx.AttributeProto>());
        conv.Fused = new Activation(UnaryFunction.LeakyRelu, 0.1f);
        var error = Assert.Throws<ArgumentException>(() => conv.Fused = new Activation(UnaryFunction.Tanh));
        Assert.Contains("Tanh", error.Message);
        Assert.Equal(UnaryFunction.LeakyRelu, conv.Fused.Function);
    }

    /// <summary>Each fusable activation after a 1×1 Conv (the SIMT GEMM on the CPU accelerator) and after a depthwise
    /// 3×3 Conv (the 16-byte depthwise kernel), against ONNX Runtime.</summary>
    [Theory]
    [InlineData("Relu")]
    [InlineData("Sigmoid")]
    [InlineData("LeakyRelu")]
    [InlineData("HardSigmoid")]
    [InlineData("HardSwish")]
    [InlineData("Clip")]
    [InlineData("Silu")]
    public void Fused_activations_match_onnx_runtime_on_the_gemm_and_depthwise_kernels(string activation)
    {
        var graph = new TinyOnnxGraph(opset: 14).Input("x", 4, 8, 8).Random("pw", 3, 8, 4, 1, 1).Random("dw", 4, 8, 1, 3, 3)
            .Floats("lo", [-0.5f]).Floats("hi", [1.5f])
            .Node("Conv", ["x", "pw"], ["p"]);
        Activate(graph, activation, "p", "pa");
        graph.Node("Conv", ["pa", "dw"], ["d"], ("group", 8), ("pads", new[] { 1, 1, 1, 1 }));
        Activate(graph, activation, "d", "y");
        byte[] model = graph.Output("y").Build();
        var loaded = OnnxGraph.Parse(model, "test");
        GraphFusion.Apply(loaded);
        Assert.All(loaded.Nodes.Where(n => n.OpType == "Conv"), n => Assert.NotEqual(UnaryFunction.Identity, n.Fused.Function));

        float error = OrtParity.MaxAbsError(model, [2, 4, 8, 8], scale: 3f);
        log.WriteLine($"{activation}: max abs error {error:E2}");
        Assert.True(error <= 1e-4f, $"{activation}: max abs error {error}");
    }

    private static void Activate(TinyOnnxGraph graph, string activation, string input, string output)
    {
        switch (activation)
        {
            case "Silu": graph.Node("Sigmoid", [input], [input + "_s"]).Node("Mul", [input, input + "_s"], [output]); break;
            case "Clip": graph.Node("Clip", [input, "lo", "hi"], [output]); break;
            case "LeakyRelu": graph.Node("LeakyRelu", [input], [output], ("alpha", 0.1f)); break;
            case "HardSigmoid": graph.Node("HardSigmoid", [input], [output], ("alpha", 0.2f), ("beta", 0.5f)); break;
            default: graph.Node(activation, [input], [output]); break;
        }
    }
}
