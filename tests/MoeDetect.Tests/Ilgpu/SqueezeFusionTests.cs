using MoeDetect.Model.Ilgpu;
using MoeDetect.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>A spatial mean and the two 1×1 layers on it (MobileNetV3's squeeze-excite gate, the MoE routers) run as one
/// launch (<see cref="SqueezeFusion"/>), with ONNX Runtime's outputs, run after run.</summary>
public sealed class SqueezeFusionTests(ITestOutputHelper log)
{
    /// <summary>MobileNetV3's block end: mean, 1×1 + ReLU, 1×1 + hard sigmoid, the gate scaling the projection's input.
    /// 40 channels of 12 × 12 take several groups per image, so the last-group hand-over is exercised.</summary>
    [Fact]
    public void A_squeeze_excite_gate_runs_as_one_launch()
    {
        const int channels = 40;
        var model = new TinyOnnxGraph().Input("x", channels, 12, 12)
            .Random("s1", 61, 10, channels, 1, 1).Random("b1", 62, 10).Random("s2", 63, channels, 10, 1, 1).Random("b2", 64, channels)
            .Random("project", 65, 6, channels, 1, 1)
            .Node("ReduceMean", ["x"], ["m"], ("axes", new[] { 2, 3 }), ("keepdims", 1))
            .Node("Conv", ["m", "s1", "b1"], ["f"]).Node("Relu", ["f"], ["fr"]).Node("Conv", ["fr", "s2", "b2"], ["g"])
            .Node("HardSigmoid", ["g"], ["gate"], ("alpha", 1f / 6), ("beta", 0.5f))
            .Node("Mul", ["x", "gate"], ["gated"]).Node("Conv", ["gated", "project"], ["y"]).Output("y").Build();

        var graph = IlgpuEngine.PrepareGraph(model, "squeeze-excite", null);

        Assert.Equal([SqueezeFusion.SqueezeMlp, "Conv"], graph.Nodes.Select(n => n.OpType));
        using var engine = IlgpuEngine.Load(model, "squeeze-excite", IlgpuTarget.CpuAccelerator);
        var kinds = engine.Profile(batchSize: 3, iterations: 1).Select(s => s.Kind).ToList();
        Assert.Equal(1, kinds.Count(k => k == SqueezeFusion.SqueezeMlp));
        Assert.DoesNotContain("ReduceMean", kinds);
        AssertParityRunAfterRun("squeeze-excite", model, [3, channels, 12, 12]);
    }

    /// <summary>An MoE router as the model files hold it: GlobalAveragePool, 1×1 + ReLU, 1×1 to one logit per expert,
    /// flattened. Each run must find the arrival counts as the last run left them.</summary>
    [Fact]
    public void A_router_gives_the_same_logits_run_after_run()
    {
        var model = new TinyOnnxGraph().Input("x", 24, 9, 7)
            .Random("w1", 71, 16, 24, 1, 1).Random("w2", 72, 3, 16, 1, 1).Random("b2", 73, 3)
            .Node("GlobalAveragePool", ["x"], ["m"]).Node("Conv", ["m", "w1"], ["h"]).Node("Relu", ["h"], ["hr"])
            .Node("Conv", ["hr", "w2", "b2"], ["l"]).Node("Flatten", ["l"], ["logits"]).Output("logits").Build();

        Assert.Contains(SqueezeFusion.SqueezeMlp, IlgpuEngine.PrepareGraph(model, "router", null).Nodes.Select(n => n.OpType));
        AssertParityRunAfterRun("router", model, [5, 24, 9, 7]);
    }

    [Fact]
    public void A_padded_first_layer_or_a_mean_read_elsewhere_is_not_fused()
    {
        var padded = new TinyOnnxGraph().Input("x", 8, 5, 5).Random("w1", 81, 4, 8, 1, 1).Random("w2", 82, 8, 4, 1, 1)
            .Node("GlobalAveragePool", ["x"], ["m"]).Node("Conv", ["m", "w1"], ["h"], ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Conv", ["h", "w2"], ["y"]).Output("y").Build();
        var shared = new TinyOnnxGraph().Input("x", 8, 5, 5).Random("w1", 83, 4, 8, 1, 1).Random("w2", 84, 8, 4, 1, 1)
            .Node("GlobalAveragePool", ["x"], ["m"]).Node("Conv", ["m", "w1"], ["h"]).Node("Conv", ["h", "w2"], ["g"])
            .Node("Add", ["g", "m"], ["y"]).Output("y").Build();

        foreach (var (name, model) in new[] { ("padded", padded), ("mean read twice", shared) })
        {
            Assert.DoesNotContain(SqueezeFusion.SqueezeMlp, IlgpuEngine.PrepareGraph(model, name, null).Nodes.Select(n => n.OpType));
            float error = OrtParity.MaxAbsError(model, [2, 8, 5, 5]);
            Assert.True(error <= 2e-5f, $"{name}: max abs error {error}");
        }
    }

    /// <summary>Three runs of one engine on different inputs, each against ONNX Runtime.</summary>
    private void AssertParityRunAfterRun(string what, byte[] model, int[] inputShape)
    {
        using var engine = IlgpuEngine.Load(model, what, IlgpuTarget.CpuAccelerator);
        for (int run = 0; run < 3; run++)
        {
            var input = TinyOnnxGraph.RandomValues(90 + run, inputShape.Aggregate(1, (a, b) => a * b));
            var actual = engine.Run(input, inputShape[0]);
            float worst = 0;
            foreach (var (name, (values, shape)) in OrtParity.RunOrt(model, inputShape, input))
            {
                var tensor = actual.Tensor(name);
                Assert.Equal(shape, tensor.Shape);
                for (int i = 0; i < values.Length; i++) worst = Math.Max(worst, Math.Abs(values[i] - tensor.Data[i]));
            }
            log.WriteLine($"{what}, run {run + 1}: max abs error {worst:E2}");
            Assert.True(worst <= 2e-5f, $"{what}, run {run + 1}: max abs error {worst}");
        }
    }
}
