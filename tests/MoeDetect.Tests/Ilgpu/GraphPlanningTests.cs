using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>What the engine does to a graph before running it: fusions at load and memory reuse in the plan.</summary>
public sealed class GraphPlanningTests
{
    [Fact]
    public void Batch_norm_and_activations_are_fused_into_convolutions()
    {
        var model = new TinyOnnxGraph().Input("x", 6, 8, 8).Random("dw", 5, 6, 1, 3, 3).Random("pw", 6, 4, 6, 1, 1)
            .Random("gamma", 7, 4).Random("beta", 8, 4).Random("mean", 9, 4).Floats("var", [0.5f, 1.5f, 2f, 0.25f], 4)
            .Floats("lo", [0f]).Floats("hi", [6f])
            .Node("Conv", ["x", "dw"], ["d"], ("group", 6), ("pads", new[] { 1, 1, 1, 1 })).Node("Clip", ["d", "lo", "hi"], ["d6"])
            .Node("Conv", ["d6", "pw"], ["p"]).Node("BatchNormalization", ["p", "gamma", "beta", "mean", "var"], ["bn"])
            .Node("Sigmoid", ["bn"], ["s"]).Node("Mul", ["bn", "s"], ["y"]).Output("y").Build();
        var graph = OnnxGraph.Parse(model, "test");
        GraphFusion.Apply(graph);
        Assert.Equal(["Conv", "Conv"], graph.Nodes.Select(n => n.OpType));
        Assert.Equal(UnaryFunction.Clip, graph.Nodes[0].Fused.Function);
        Assert.Equal(6f, graph.Nodes[0].Fused.Beta);
        Assert.Equal(UnaryFunction.Silu, graph.Nodes[1].Fused.Function);
        Assert.Equal("y", graph.Nodes[1].Outputs[0]);
    }

    [Fact]
    public void TensorFlow_style_transposes_around_activations_cancel_and_the_activation_fuses()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 6, 5).Random("w1", 1, 4, 3, 3, 3).Random("w2", 2, 2, 4, 1, 1)
            .Floats("lo", [0f]).Floats("hi", [6f])
            .Node("Conv", ["x", "w1"], ["c"], ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Transpose", ["c"], ["c_nhwc"], ("perm", new[] { 0, 2, 3, 1 }))
            .Node("Clip", ["c_nhwc", "lo", "hi"], ["r"])
            .Node("Transpose", ["r"], ["r_nchw"], ("perm", new[] { 0, 3, 1, 2 }))
            .Node("Conv", ["r_nchw", "w2"], ["y"]).Output("y").Build();
        var graph = OnnxGraph.Parse(model, "test");
        GraphFusion.Apply(graph);
        Assert.Equal(["Conv", "Conv"], graph.Nodes.Select(n => n.OpType));
        Assert.Equal(UnaryFunction.Clip, graph.Nodes[0].Fused.Function);
        Assert.True(OrtParity.MaxAbsError(model, [2, 3, 6, 5], scale: 3f) < 2e-5f);
    }

    [Fact]
    public void A_value_read_twice_is_not_fused_away()
    {
        var model = new TinyOnnxGraph().Input("x", 2, 4, 4).Random("w", 1, 2, 2, 1, 1)
            .Node("Conv", ["x", "w"], ["c"]).Node("Relu", ["c"], ["r"]).Node("Add", ["c", "r"], ["y"]).Output("y").Build();
        var graph = OnnxGraph.Parse(model, "test");
        GraphFusion.Apply(graph);
        Assert.Equal(["Conv", "Relu", "Add"], graph.Nodes.Select(n => n.OpType));
    }

    [Fact]
    public void A_free_batch_runs_in_one_plan_through_reshapes_with_0_and_minus_1()
    {
        var model = new TinyOnnxGraph().Input("x", 2, 3, 4).Random("w", 1, 5, 2, 1, 1).Longs("flat", 0, -1).Longs("back", -1, 5, 12)
            .Node("Conv", ["x", "w"], ["c"]).Node("Reshape", ["c", "flat"], ["f"]).Node("Softmax", ["f"], ["s"], ("axis", 1))
            .Node("Reshape", ["s", "back"], ["y"]).Output("y").Build();
        using var engine = IlgpuEngine.Load(model, "test", IlgpuTarget.CpuAccelerator);
        Assert.Equal(1, engine.Summary(3).PlanRunsPerBatch);
        Assert.True(OrtParity.MaxAbsError(model, [3, 2, 3, 4]) < 1e-6f);
    }

    [Fact]
    public void A_chain_of_layers_reuses_two_buffers()
    {
        // Ten same-sized layers: liveness lets intermediate tensors alternate between two slots.
        var g = new TinyOnnxGraph().Input("x", 4, 16, 16);
        string previous = "x";
        for (int i = 0; i < 10; i++)
        {
            g.Random($"w{i}", i, 4, 4, 3, 3).Node("Conv", [previous, $"w{i}"], [$"c{i}"], ("pads", new[] { 1, 1, 1, 1 }));
            previous = $"c{i}";
        }
        var model = g.Node("Sigmoid", [previous], ["y"]).Output("y").Build();
        var graph = OnnxGraph.Parse(model, "test");
        GraphFusion.Apply(graph);
        using var device = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        using var constants = new ConstantCache(device.Accelerator);
        using var plan = OperatorCompiler.Build(graph, new KernelLibrary(device.Accelerator), constants, [1, 4, 16, 16]);
        Assert.Equal(2 * 4 * 16 * 16 * sizeof(float), plan.IntermediateBytes);
    }

    [Fact]
    public void A_plan_reads_its_input_where_another_tensor_lies_channel_ranges_of_it_included()
    {
        // Split takes channel ranges of the input where it lies (placed in the input's storage): they must follow it.
        var model = new TinyOnnxGraph().Input("x", 4, 6, 6).Random("wa", 1, 3, 2, 1, 1).Random("wb", 2, 3, 2, 3, 3)
            .Node("Split", ["x"], ["a", "b"], ("axis", 1)).Node("Conv", ["a", "wa"], ["ca"]).Node("Conv", ["b", "wb"], ["cb"], ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Concat", ["ca", "cb"], ["y"], ("axis", 1)).Output("y").Build();
        var graph = OnnxGraph.Parse(model, "test");
        GraphFusion.Apply(graph);
        using var device = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        using var constants = new ConstantCache(device.Accelerator);
        using var plan = OperatorCompiler.Build(graph, new KernelLibrary(device.Accelerator), constants, [2, 4, 6, 6]);
        var first = TinyOnnxGraph.RandomValues(11, 2 * 4 * 36);
        var second = TinyOnnxGraph.RandomValues(12, 2 * 4 * 36);
        float[] Copied(float[] input)
        {
            var y = new float[2 * 6 * 36];
            plan.Run(view => view.SubView(0, input.Length).CopyFromCPU(input), [y]);
            return y;
        }
        float[] ReadWhereItLies(float[] input)
        {
            using var buffer = device.Accelerator.Allocate1D<float>(input);
            plan.ReadInputsFrom([new DeviceTensor([2, 4, 6, 6], new Storage(input.Length, -1) { Pinned = true, View = buffer.View }, isInteger: false)]);
            plan.Enqueue();
            device.Accelerator.Synchronize();
            return plan.Outputs[0].Value.Device!.View.GetAsArray();
        }
        var expectedFirst = Copied(first);
        var expectedSecond = Copied(second);
        Assert.Equal(expectedSecond, ReadWhereItLies(second));
        Assert.Equal(expectedFirst, ReadWhereItLies(first));
        // Run writes the plan's own memory again.
        Assert.Equal(expectedSecond, Copied(second));
        Assert.NotEqual(expectedFirst, expectedSecond);
    }
}
