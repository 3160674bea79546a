
namespace MoeDetect.Tests.Conversion;

/// <summary>Weights split over several shards and stored in each TFJS encoding come back as the values written.</summary>
public class WeightsReadingTests
{
    [Fact]
    public void WeightsSpanningShardBoundariesInEveryEncodingAreDequantized()
    {
        // x·a + b·c: a float16, b uint8-affine, c int32 cast to float — three shards, cut inside the weights.
        var g = new SyntheticTfjsGraph { Shards = 3 }.Input("in", [1, 5]);
        var a = g.Floats("a", [0.5f, -1.25f, 3.0f, 1e-3f, 100.0f], 5);
        var b = g.Uint8Floats("b", [-2f, -1f, 0f, 1.5f, 4f], 5);
        g.Ints("c", [3, -4, 5, 0, 7], 5);
        g.Node("c_f", "Cast", ["c"], new() { ["SrcT"] = SyntheticTfjsGraph.Type("DT_INT32"), ["DstT"] = SyntheticTfjsGraph.Type("DT_FLOAT") })
            .Node("xa", "Mul", ["in", "a"]).Node("bc", "Mul", ["b", "c_f"]).Node("y", "AddV2", ["xa", "bc"]).Output("y", [1, 5]);
        float[] x = [1, 2, 3, 4, 5];
        int[] c = [3, -4, 5, 0, 7];

        var y = g.ConvertAndRun(x, 1, 5)["y"];

        Assert.Equal(1e-3f, a[3], 1e-5f); // float16 keeps small values to its precision
        Assert.Equal(-2f, b[0], 1e-6f);   // affine quantization is exact at the ends of the range
        Assert.Equal(4f, b[4], 1e-5f);
        SpatialOpTests.AssertClose(x.Select((v, i) => v * a[i] + b[i] * c[i]).ToArray(), y.Buffer.ToArray(), 1e-6f);
    }
}
