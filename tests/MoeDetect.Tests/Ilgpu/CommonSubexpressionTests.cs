using MoeDetect.Model.Ilgpu;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Work a graph repeats (<see cref="CommonSubexpressions"/>) runs once: CenterNet's decoder floors index ÷ 80
/// twice, each time from a constant of its own; the repeat adds no launch, and the outputs stay ONNX Runtime's.</summary>
public sealed class CommonSubexpressionTests(ITestOutputHelper log)
{
    /// <summary>TopK's indices ÷ 5, floored, then row × 4 + row (or + the same row computed again from a second,
    /// equal constant).</summary>
    private static byte[] Decoder(bool repeated)
    {
        var graph = new TinyOnnxGraph().Input("x", 3, 4, 5).Longs("flat", 0, -1).Longs("k", 6)
            .Floats("five", [5f]).Floats("five again", [5f]).Floats("four", [4f])
            .Node("Reshape", ["x", "flat"], ["f"]).Node("TopK", ["f", "k"], ["scores", "idx"], ("axis", 1))
            .Node("Cast", ["idx"], ["fi"], ("to", 1))
            .Node("Div", ["fi", "five"], ["d"]).Node("Floor", ["d"], ["row"]).Node("Mul", ["row", "four"], ["scaled"]);
        if (repeated)
            graph = graph.Node("Cast", ["idx"], ["fi again"], ("to", 1)).Node("Div", ["fi again", "five again"], ["d again"])
                .Node("Floor", ["d again"], ["row again"]).Node("Add", ["scaled", "row again"], ["y"]);
        else
            graph = graph.Node("Add", ["scaled", "row"], ["y"]);
        return graph.Output("y").Output("scores").Build();
    }

    [Fact]
    public void A_repeated_computation_adds_no_launch_and_keeps_the_outputs()
    {
        float error = OrtParity.MaxAbsError(Decoder(repeated: true), [2, 3, 4, 5]);
        log.WriteLine($"repeated decoder: max abs error {error:E2}");
        Assert.Equal(0f, error);

        Assert.Equal(Launches(Decoder(repeated: false)), Launches(Decoder(repeated: true)));
    }

    [Fact]
    public void Equal_operators_on_different_values_are_both_computed()
    {
        // Same operator and attributes, different constants (÷ 5 and ÷ 4): two launches, two results.
        var model = new TinyOnnxGraph().Input("x", 2, 3).Floats("five", [5f]).Floats("four", [4f])
            .Node("Div", ["x", "five"], ["a"]).Node("Div", ["x", "four"], ["b"]).Node("Sub", ["a", "b"], ["y"]).Output("y").Build();

        float error = OrtParity.MaxAbsError(model, [2, 2, 3]);
        log.WriteLine($"÷ 5 − ÷ 4: max abs error {error:E2}");
        Assert.True(error <= 1e-6f, $"max abs error {error}");
        Assert.Equal(3, Launches(model));
    }

    private static int Launches(byte[] model)
    {
        using var engine = IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator);
        return engine.Summary(2).Launches;
    }
}
