using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>`ilgpu-bench profile`'s source: every launch of a plan timed alone, named by operator and convolution path,
/// convolutions with their arithmetic.</summary>
public sealed class PlanProfileTests
{
    private static byte[] TwoConvolutions() => new TinyOnnxGraph(opset: 14).Input("x", 8, 5, 6).Random("w", 41, 16, 8, 1, 1).Random("b", 42, 16)
        .Random("w3", 43, 8, 16, 3, 3).Node("Conv", ["x", "w", "b"], ["c"]).Node("Sigmoid", ["c"], ["s"])
        .Node("Conv", ["s", "w3"], ["y"], ("pads", new[] { 1, 1, 1, 1 })).Output("y").Build();

    [Fact]
    public void Every_launch_is_timed_with_its_kind_and_convolutions_with_their_flops()
    {
        using var engine = IlgpuEngine.Load(TwoConvolutions(), "tiny", IlgpuTarget.CpuAccelerator);

        var steps = engine.Profile(batchSize: 2, iterations: 1);

        Assert.Equal(engine.Summary(2).Launches, steps.Count);
        Assert.All(steps, s => Assert.True(s.Ms > 0, $"{s.Kind} was not timed"));
        // The Sigmoid is fused into the pointwise Conv; the 3×3 is too small for the blocked kernel: an implicit GEMM.
        Assert.Equal(["Conv pointwise", "Conv implicitgemm"], steps.Select(s => s.Kind));
        Assert.Equal(2.0 * 2 * 16 * 8 * 5 * 6, steps[0].Flops);
        Assert.Equal(2.0 * 2 * 8 * 16 * 9 * 5 * 6, steps[1].Flops);
    }

    /// <summary>What `moedetect bench` divides by the inference time for achieved TFLOP/s.</summary>
    [Fact]
    public void A_run_reports_the_arithmetic_of_its_convolutions_at_its_batch()
    {
        using var engine = IlgpuEngine.Load(TwoConvolutions(), "tiny", IlgpuTarget.CpuAccelerator);
        double perImage = 2.0 * 16 * 8 * 5 * 6 + 2.0 * 8 * 16 * 9 * 5 * 6;

        foreach (int batch in new[] { 1, 3 })
            Assert.Equal(batch * perImage, engine.Run(new float[batch * 8 * 5 * 6], batch).Timings.Flops);
    }
}
