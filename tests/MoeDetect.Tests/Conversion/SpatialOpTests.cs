using static MoeDetect.Tests.Conversion.SyntheticTfjsGraph;

namespace MoeDetect.Tests.Conversion;

/// <summary>Convolution, pooling and resize translations against TF's definitions, through real ONNX Runtime.</summary>
public class SpatialOpTests
{
    private const float Tolerance = 1e-4f;

    [Theory]
    [InlineData("Relu", 1)]
    [InlineData("Relu6", 2)]
    [InlineData("LeakyRelu", 2)]
    [InlineData("Sigmoid", 1)]
    [InlineData(null, 2)]
    public void FusedConv2DMatchesTfWithBiasAndActivation(string? activation, int stride)
    {
        const int h = 7, w = 6, c = 3, cout = 4, k = 3;
        var g = new SyntheticTfjsGraph().Input("in", [1, h, w, c]);
        var filter = g.Floats("filter", Values(k * k * c * cout, seed: 1, scale: 2f), k, k, c, cout);
        var bias = g.Floats("bias", Values(cout, seed: 2, scale: 3f), cout);
        string[] fused = activation is null ? ["BiasAdd"] : ["BiasAdd", activation];
        g.Node("conv", "_FusedConv2D", ["in", "filter", "bias"], new()
        {
            ["strides"] = IntList(1, stride, stride, 1), ["padding"] = S("SAME"), ["data_format"] = S("NHWC"),
            ["dilations"] = IntList(1, 1, 1, 1), ["fused_ops"] = StringList(fused), ["num_args"] = I(1), ["leakyrelu_alpha"] = F(0.1f),
        });
        var x = Values(h * w * c, seed: 3, scale: 4f);
        var expected = NhwcReference.Convolution(x, h, w, c, filter, k, k, cout, stride, depthwise: false, bias, out var oh, out var ow)
            .Select(v => activation switch
            {
                "Relu" => Math.Max(v, 0),
                "Relu6" => Math.Clamp(v, 0, 6),
                "LeakyRelu" => v < 0 ? 0.1f * v : v,
                "Sigmoid" => 1 / (1 + MathF.Exp(-v)),
                _ => v,
            }).ToArray();
        g.Output("conv", [1, oh, ow, cout]);

        var y = g.ConvertAndRun(x, 1, h, w, c)["conv"];

        Assert.Equal([1, oh, ow, cout], y.Dimensions.ToArray());
        AssertClose(expected, y.Buffer.ToArray());
    }

    [Fact]
    public void DepthwiseConvWithMultiplierAndUnfusedDepthwiseMatchTf()
    {
        const int h = 6, w = 5, c = 3, m = 2, k = 5;
        var g = new SyntheticTfjsGraph().Input("in", [1, h, w, c]);
        var filter = g.Floats("filter", Values(k * k * c * m, seed: 4, scale: 1f), k, k, c, m);
        var bias = g.Floats("bias", Values(c * m, seed: 5, scale: 1f), c * m);
        var attr = new Dictionary<string, object>
        {
            ["strides"] = IntList(1, 2, 2, 1), ["padding"] = S("SAME"), ["data_format"] = S("NHWC"), ["dilations"] = IntList(1, 1, 1, 1),
        };
        g.Node("dw", "FusedDepthwiseConv2dNative", ["in", "filter", "bias"],
            new(attr) { ["fused_ops"] = StringList("BiasAdd", "Relu"), ["num_args"] = I(1) });
        g.Node("dw_plain", "DepthwiseConv2dNative", ["in", "filter"], attr);
        var x = Values(h * w * c, seed: 6, scale: 2f);
        var plain = NhwcReference.Convolution(x, h, w, c, filter, k, k, m, 2, depthwise: true, new float[c * m], out var oh, out var ow);
        var fused = NhwcReference.Convolution(x, h, w, c, filter, k, k, m, 2, depthwise: true, bias, out _, out _).Select(v => Math.Max(v, 0)).ToArray();
        g.Output("dw", [1, oh, ow, c * m]).Output("dw_plain", [1, oh, ow, c * m]);

        var y = g.ConvertAndRun(x, 1, h, w, c);

        AssertClose(fused, y["dw"].Buffer.ToArray());
        AssertClose(plain, y["dw_plain"].Buffer.ToArray());
    }

    [Fact]
    public void CenterNetPeakMaskKeepsOnlyLocalMaxima()
    {
        // keypoints * (keypoints == MaxPool3x3(keypoints)), as CenterNet's in-graph NMS does.
        const int h = 5, w = 4, c = 2;
        var g = new SyntheticTfjsGraph().Input("in", [1, h, w, c]);
        g.Node("pool", "MaxPool", ["in"], new()
        {
            ["ksize"] = IntList(1, 3, 3, 1), ["strides"] = IntList(1, 1, 1, 1), ["padding"] = S("SAME"), ["data_format"] = S("NHWC"),
        });
        g.Node("eq", "Equal", ["in", "pool"]);
        g.Node("mask", "Cast", ["eq"], new() { ["SrcT"] = Type("DT_BOOL"), ["DstT"] = Type("DT_FLOAT") });
        g.Node("peaks", "Mul", ["in", "mask"]);
        g.Output("pool", [1, h, w, c]).Output("peaks", [1, h, w, c]);
        var x = Values(h * w * c, seed: 7, scale: 1f);
        var pooled = NhwcReference.MaxPool(x, h, w, c, 3, 1, out _, out _);

        var y = g.ConvertAndRun(x, 1, h, w, c);

        AssertClose(pooled, y["pool"].Buffer.ToArray());
        AssertClose(x.Select((v, i) => v == pooled[i] ? v : 0f).ToArray(), y["peaks"].Buffer.ToArray());
        Assert.Contains(y["peaks"].Buffer.ToArray(), v => v == 0f); // some cells are suppressed
    }

    [Theory]
    [InlineData(false, false, 8, 6)] // CenterNet's upsampling (asymmetric)
    [InlineData(false, true, 8, 6)] // NanoDet's (half-pixel centres)
    [InlineData(true, false, 7, 5)]
    [InlineData(false, true, 3, 2)] // downscale
    public void ResizeBilinearFollowsTfCoordinateConvention(bool alignCorners, bool halfPixel, int oh, int ow)
    {
        const int h = 4, w = 3, c = 2;
        var g = new SyntheticTfjsGraph().Input("in", [1, h, w, c]).Ints("size", [oh, ow], 2);
        g.Node("resize", "ResizeBilinear", ["in", "size"], new() { ["align_corners"] = B(alignCorners), ["half_pixel_centers"] = B(halfPixel) });
        g.Output("resize", [1, oh, ow, c]);
        var x = Values(h * w * c, seed: 8, scale: 5f);

        var y = g.ConvertAndRun(x, 1, h, w, c)["resize"];

        AssertClose(NhwcReference.ResizeBilinear(x, h, w, c, oh, ow, alignCorners, halfPixel), y.Buffer.ToArray());
    }

    [Fact]
    public void SqueezeExciteBlockScalesChannelsByMeanGate()
    {
        // Mean over H, W (keep dims) → Sigmoid → Mul, MobileNetV3's squeeze-excite without its convolutions.
        const int h = 3, w = 4, c = 2;
        var g = new SyntheticTfjsGraph().Input("in", [1, h, w, c]).Ints("axes", [1, 2], 2);
        g.Node("mean", "Mean", ["in", "axes"], new() { ["keep_dims"] = B(true) });
        g.Node("gate", "Sigmoid", ["mean"]);
        g.Node("scaled", "Mul", ["gate", "in"]);
        g.Output("scaled", [1, h, w, c]);
        var x = Values(h * w * c, seed: 9, scale: 3f);
        var gates = Enumerable.Range(0, c)
            .Select(ci => 1 / (1 + MathF.Exp(-Enumerable.Range(0, h * w).Average(p => x[p * c + ci])))).ToArray();

        var y = g.ConvertAndRun(x, 1, h, w, c)["scaled"];

        AssertClose(x.Select((v, i) => v * gates[i % c]).ToArray(), y.Buffer.ToArray());
    }

    /// <summary>Deterministic values in [−scale, scale].</summary>
    internal static float[] Values(int count, int seed, float scale)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
    }

    internal static void AssertClose(float[] expected, float[] actual, float tolerance = Tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i])),
                $"element {i}: expected {expected[i]}, got {actual[i]}");
    }
}
