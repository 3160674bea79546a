using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static MoeDetect.Tests.Conversion.SyntheticTfjsGraph;

namespace MoeDetect.Tests.Conversion;

/// <summary>Slicing, top-k decoding, integer arithmetic and the onnx-tf style head tail, against hand-computed values.</summary>
public class TensorOpTests
{
    private static readonly float[] Arange24 = Enumerable.Range(0, 24).Select(i => (float)i).ToArray();

    // x = arange(24).reshape(2, 3, 4); masks: begin, end, ellipsis, new_axis, shrink_axis.
    public static IEnumerable<object[]> Slices =>
    [
        Case("x[:, 1, ::2]", [0, 1, 0], [0, 2, 0], [1, 1, 2], 5, 5, 0, 0, 2, [2, 2], [4, 6, 16, 18]),
        Case("x[..., ::-1]", [0, 0], [0, 0], [1, -1], 2, 2, 1, 0, 0, [2, 3, 4],
            [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16, 23, 22, 21, 20]),
        Case("x[1, newaxis, -2:]", [1, 0, -2], [2, 0, 0], [1, 1, 1], 0, 4, 0, 2, 1, [1, 2, 4], [16, 17, 18, 19, 20, 21, 22, 23]),
        Case("x[-1]", [-1], [0], [1], 0, 0, 0, 0, 1, [3, 4], [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
        Case("x[:, -1:0:-1, 1:3]", [0, -1, 1], [0, 0, 3], [1, -1, 1], 1, 1, 0, 0, 0, [2, 2, 2], [9, 10, 5, 6, 21, 22, 17, 18]),
        Case("x[..., 2]", [0, 2], [0, 3], [1, 1], 0, 0, 1, 0, 2, [2, 3], [2, 6, 10, 14, 18, 22]),
    ];

    private static object[] Case(string python, int[] begin, int[] end, int[] strides, int beginMask, int endMask, int ellipsisMask,
        int newAxisMask, int shrinkMask, int[] shape, float[] expected) =>
        [python, begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkMask, shape, expected];

    [Theory]
    [MemberData(nameof(Slices))]
    public void StridedSliceHonoursEveryMask(string python, int[] begin, int[] end, int[] strides, int beginMask, int endMask,
        int ellipsisMask, int newAxisMask, int shrinkMask, int[] expectedShape, float[] expected)
    {
        var g = new SyntheticTfjsGraph().Input("in", [2, 3, 4])
            .Ints("begin", begin, begin.Length).Ints("end", end, end.Length).Ints("strides", strides, strides.Length);
        g.Node("slice", "StridedSlice", ["in", "begin", "end", "strides"], new()
        {
            ["begin_mask"] = I(beginMask), ["end_mask"] = I(endMask), ["ellipsis_mask"] = I(ellipsisMask),
            ["new_axis_mask"] = I(newAxisMask), ["shrink_axis_mask"] = I(shrinkMask),
        });
        g.Output("slice", expectedShape);

        var y = g.ConvertAndRun(Arange24, 2, 3, 4)["slice"];

        Assert.True(expectedShape.SequenceEqual(y.Dimensions.ToArray()), $"{python}: shape [{string.Join(",", y.Dimensions.ToArray())}]");
        Assert.Equal(expected, y.Buffer.ToArray());
    }

    [Fact]
    public void TopKDecodeRecoversRowsColumnsAndGatheredValues()
    {
        // CenterNet's tail in miniature: top-3 of a flattened 3×4 map, index → (row, col) by FloorDiv/FloorMod, Gather of a table.
        float[] scores = [0.1f, 0.9f, 0.3f, 0.05f, 0.7f, 0.2f, 0.95f, 0.4f, 0.6f, 0.15f, 0.25f, 0.5f];
        var g = new SyntheticTfjsGraph().Input("in", [1, 12]).Ints("k", [3]).Ints("width", [4]).Ints("axis", [0]).Ints("last", [-1]);
        var table = g.Floats("table", Enumerable.Range(0, 12).Select(i => i * 10f).ToArray(), 12);
        g.Node("topk", "TopKV2", ["in", "k"], new() { ["sorted"] = B(true) });
        g.Node("row", "FloorDiv", ["topk:1", "width"], new() { ["T"] = Type("DT_INT32") });
        g.Node("col", "FloorMod", ["topk:1", "width"], new() { ["T"] = Type("DT_INT32") });
        foreach (var part in new[] { "row", "col" })
            g.Node($"{part}_f", "Cast", [part], new() { ["SrcT"] = Type("DT_INT32"), ["DstT"] = Type("DT_FLOAT") })
                .Node($"{part}_e", "ExpandDims", [$"{part}_f", "last"]);
        g.Node("score_e", "ExpandDims", ["topk", "last"]);
        g.Node("gathered", "GatherV2", ["table", "topk:1", "axis"], new() { ["batch_dims"] = I(0) });
        g.Node("rows", "ConcatV2", ["score_e", "row_e", "col_e", "last"], new() { ["N"] = I(3) });
        g.Output("rows", [1, 3, 3]).Output("gathered", [1, 3]);

        var y = g.ConvertAndRun(scores, 1, 12);

        // Top three: index 6 (0.95) → (1, 2), index 1 (0.9) → (0, 1), index 4 (0.7) → (1, 0).
        SpatialOpTests.AssertClose([0.95f, 1, 2, 0.9f, 0, 1, 0.7f, 1, 0], y["rows"].Buffer.ToArray(), 1e-6f);
        Assert.Equal([60f, 10f, 40f], y["gathered"].Buffer.ToArray());
    }

    [Fact]
    public void IntegerFloorDivAndFloorModRoundTowardMinusInfinity()
    {
        var g = new SyntheticTfjsGraph().Input("in", [4], "DT_INT32").Ints("three", [3]);
        g.Node("div", "FloorDiv", ["in", "three"], new() { ["T"] = Type("DT_INT32") });
        g.Node("mod", "FloorMod", ["in", "three"], new() { ["T"] = Type("DT_INT32") });
        g.Output("div", [4], "DT_INT32").Output("mod", [4], "DT_INT32");

        var y = g.ConvertAndRun<int>(NamedOnnxValue.CreateFromTensor("x", new DenseTensor<int>(new[] { -7, 7, -8, 5 }, [4])));

        Assert.Equal([-3, 2, -3, 1], y["div"].Buffer.ToArray());
        Assert.Equal([2, 1, 1, 2], y["mod"].Buffer.ToArray());
    }

    [Fact]
    public void OnnxTfStyleHeadTailFoldsShapesAndSplitsScoresFromBoxes()
    {
        // NanoDet's tail as onnx-tf wrote it: NCHW → Transpose → Reshape to (shape + SparseToDense(nothing)) → SplitV →
        // Sigmoid | Softmax; and a PadV2 with a fill value.
        const int c = 6, h = 2, w = 2;
        var g = new SyntheticTfjsGraph().Input("in", [1, c, h, w])
            .Ints("perm", [0, 2, 3, 1], 4)
            .Ints("base_shape", [1, -1, c], 3).Ints("where", [], 0, 1).Ints("dense_shape", [3], 1).Ints("values", [], 0).Ints("zero", [0])
            .Ints("sizes", [2, 4], 2).Ints("axis", [2]).Ints("paddings", [0, 0, 0, 0, 1, 0, 0, 1], 4, 2);
        var fill = g.Floats("fill", [1.5f]);
        g.Node("nhwc", "Transpose", ["in", "perm"])
            .Node("offsets", "SparseToDense", ["where", "dense_shape", "values", "zero"])
            .Node("shape", "AddV2", ["base_shape", "offsets"])
            .Node("flat", "Reshape", ["nhwc", "shape"])
            .Node("split", "SplitV", ["flat", "sizes", "axis"], new() { ["num_split"] = I(2) })
            .Node("scores", "Sigmoid", ["split"])
            .Node("boxes", "Softmax", ["split:1"])
            .Node("padded", "PadV2", ["in", "paddings", "fill"]);
        g.Output("scores", [1, h * w, 2]).Output("boxes", [1, h * w, 4]).Output("padded", [1, c, h + 1, w + 1]);
        var x = SpatialOpTests.Values(c * h * w, seed: 10, scale: 3f);
        float At(int ch, int cell) => x[ch * h * w + cell];

        var y = g.ConvertAndRun(x, 1, c, h, w);

        var scores = Enumerable.Range(0, h * w).SelectMany(cell => new[] { 0, 1 }.Select(ch => 1 / (1 + MathF.Exp(-At(ch, cell))))).ToArray();
        var boxes = Enumerable.Range(0, h * w).SelectMany(cell =>
        {
            var e = Enumerable.Range(2, 4).Select(ch => MathF.Exp(At(ch, cell))).ToArray();
            return e.Select(v => v / e.Sum());
        }).ToArray();
        SpatialOpTests.AssertClose(scores, y["scores"].Buffer.ToArray());
        SpatialOpTests.AssertClose(boxes, y["boxes"].Buffer.ToArray());
        var padded = y["padded"];
        Assert.Equal(1.5f, padded[0, 0, 0, 0]); // the padded top row
        Assert.Equal(1.5f, padded[0, 3, 1, 2]); // the padded right column
        Assert.Equal(At(3, 1 * w + 1), padded[0, 3, 2, 1]);
    }
}
