using MoeDetect.Conversion.Onnx;
using Onnx;

namespace MoeDetect.Conversion.Tfjs;

/// <summary>Shape, indexing and selection ops: reshape, slicing, concatenation, gathering, padding, top-k.</summary>
internal static class TensorOps
{
    public static readonly Dictionary<string, OpTranslator> Translators = new()
    {
        ["Reshape"] = Reshape,
        ["ExpandDims"] = (n, s) => s.EmitAndBind(n, "Unsqueeze", [s.Input(n, 0), s.Int64s(n, "axes", s.RequireConstant(n, 1, "dim").AsLongs())]),
        ["Squeeze"] = Squeeze,
        ["ConcatV2"] = ConcatV2,
        ["Pack"] = Pack,
        ["Transpose"] = (n, s) => s.EmitAndBind(n, "Transpose", [s.Input(n, 0)], Attr.Ints("perm", s.RequireConstant(n, 1, "permutation").AsLongs())),
        ["Pad"] = (n, s) => Pad(n, s, "constant", withValue: false),
        ["PadV2"] = (n, s) => Pad(n, s, "constant", withValue: true),
        ["MirrorPad"] = (n, s) => Pad(n, s, MirrorMode(n), withValue: false),
        ["SplitV"] = SplitV,
        ["Split"] = Split,
        ["StridedSlice"] = StridedSlice,
        ["Slice"] = Slice,
        ["GatherV2"] = GatherV2,
        ["TopKV2"] = TopKV2,
        ["Shape"] = (n, s) => s.EmitAndBind(n, "Cast", [s.Onnx.Node("Shape", [s.Input(n, 0)], $"{n.Name}/shape")],
            Attr.Int("to", (int)(n.Type("out_type") == "DT_INT64" ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Int32))),
        ["SparseToDense"] = (n, _) => throw new ModelConversionException(
            $"{n}: SparseToDense is supported only with constant inputs (it is folded at conversion time)."),
    };

    /// <summary>TF graphs exported at batch 1 bake the 1 into reshape targets ([1, 80, -1]); the leading 1 becomes the
    /// run-time batch, so the converted graph takes any batch and gives the same values at batch 1.</summary>
    private static void Reshape(TfjsNode node, TranslationScope s)
    {
        var shape = s.Constant(node.Inputs[1]) is { } c
            ? c.AsLongs() is [1, _, ..] dims ? s.BatchShape(node, dims[1..]) : s.Int64s(node, "shape", c.AsLongs())
            : s.Onnx.Node("Cast", [s.Input(node, 1)], $"{node.Name}/shape", Attr.Int("to", (int)TensorProto.Types.DataType.Int64));
        s.EmitAndBind(node, "Reshape", [s.Input(node, 0), shape]);
    }

    private static void Squeeze(TfjsNode node, TranslationScope s)
    {
        var dims = node.Ints("squeeze_dims");
        s.EmitAndBind(node, "Squeeze", dims.Length == 0 ? [s.Input(node, 0)] : [s.Input(node, 0), s.Int64s(node, "axes", dims)]);
    }

    private static void ConcatV2(TfjsNode node, TranslationScope s)
    {
        var last = node.Inputs.Count - 1;
        var axis = s.RequireConstant(node, last, "axis").AsLongs()[0];
        s.EmitAndBind(node, "Concat", Enumerable.Range(0, last).Select(i => s.Input(node, i)), Attr.Int("axis", axis));
    }

    private static void Pack(TfjsNode node, TranslationScope s)
    {
        var axis = node.Int("axis", 0);
        var axes = s.Int64s(node, "axis", [axis]);
        var parts = Enumerable.Range(0, node.Inputs.Count)
            .Select(i => s.Onnx.Node("Unsqueeze", [s.Input(node, i), axes], $"{node.Name}/part{i}")).ToList();
        s.EmitAndBind(node, "Concat", parts, Attr.Int("axis", axis));
    }

    private static string MirrorMode(TfjsNode node) => node.String("mode") switch
    {
        "REFLECT" => "reflect",
        var other => throw new ModelConversionException($"{node}: MirrorPad mode {other} is not supported (only REFLECT)."),
    };

    private static void Pad(TfjsNode node, TranslationScope s, string mode, bool withValue)
    {
        // TF paddings are [rank, 2] (before, after); ONNX wants all befores, then all afters.
        var p = s.RequireConstant(node, 1, "paddings").AsLongs();
        var rank = p.Length / 2;
        var pads = Enumerable.Range(0, rank).Select(d => p[2 * d]).Concat(Enumerable.Range(0, rank).Select(d => p[2 * d + 1])).ToArray();
        var inputs = new List<string> { s.Input(node, 0), s.Int64s(node, "pads", pads) };
        if (withValue)
            inputs.Add(s.Input(node, 2));
        s.EmitAndBind(node, "Pad", inputs, Attr.String("mode", mode));
    }

    private static void SplitV(TfjsNode node, TranslationScope s)
    {
        var sizes = s.RequireConstant(node, 1, "size_splits").AsLongs();
        if (sizes.Any(v => v < 0))
            throw new ModelConversionException($"{node}: size_splits with -1 (inferred size) is not supported.");
        var axis = s.RequireConstant(node, 2, "split_dim").AsLongs()[0];
        EmitSplit(node, s, s.Input(node, 0), axis, sizes.Length, s.Int64s(node, "split", sizes));
    }

    private static void Split(TfjsNode node, TranslationScope s)
    {
        var axis = s.RequireConstant(node, 0, "split_dim").AsLongs()[0];
        EmitSplit(node, s, s.Input(node, 1), axis, (int)node.Int("num_split", 1), null);
    }

    private static void EmitSplit(TfjsNode node, TranslationScope s, string x, long axis, int count, string? sizes)
    {
        var outputs = Enumerable.Range(0, count).Select(k => s.Onnx.UniqueName($"{node.Name}:{k}")).ToArray();
        s.Onnx.Node("Split", sizes is null ? [x] : [x, sizes], outputs, Attr.Int("axis", axis));
        s.Bind(node, outputs);
    }

    /// <summary>
    /// TF StridedSlice as ONNX Slice → Squeeze (shrink_axis_mask) → Unsqueeze (new_axis_mask). Dims after an ellipsis are
    /// addressed with negative axes, so the input rank need not be known.
    /// </summary>
    private static void StridedSlice(TfjsNode node, TranslationScope s)
    {
        var begin = s.RequireConstant(node, 1, "begin").AsLongs();
        var end = s.RequireConstant(node, 2, "end").AsLongs();
        var strides = s.RequireConstant(node, 3, "strides").AsLongs();
        var (beginMask, endMask) = (node.Int("begin_mask", 0), node.Int("end_mask", 0));
        var (ellipsisMask, newAxisMask, shrinkMask) = (node.Int("ellipsis_mask", 0), node.Int("new_axis_mask", 0), node.Int("shrink_axis_mask", 0));
        if (ellipsisMask != 0 && newAxisMask != 0)
            throw new ModelConversionException($"{node}: StridedSlice with both ellipsis_mask and new_axis_mask is not supported.");

        var slices = new List<(long Axis, long Start, long End, long Step)>();
        List<long> squeeze = [], unsqueeze = [];
        long axis = 0, outputDim = 0;
        for (var i = 0; i < begin.Length; i++)
        {
            var bit = 1L << i;
            if ((ellipsisMask & bit) != 0)
            {
                // The entries after the ellipsis address the last dims of the input.
                axis = -Enumerable.Range(i + 1, begin.Length - i - 1).Count(j => (newAxisMask & (1L << j)) == 0);
                continue;
            }
            if ((newAxisMask & bit) != 0)
            {
                unsqueeze.Add(outputDim++);
                continue;
            }
            var step = strides[i];
            if ((shrinkMask & bit) != 0)
            {
                slices.Add((axis, begin[i], begin[i] == -1 ? long.MaxValue : begin[i] + 1, 1));
                squeeze.Add(axis);
            }
            else
            {
                slices.Add((axis,
                    (beginMask & bit) != 0 ? (step > 0 ? 0 : long.MaxValue) : begin[i],
                    (endMask & bit) != 0 ? (step > 0 ? long.MaxValue : long.MinValue) : end[i],
                    step));
                outputDim++;
            }
            axis++;
        }

        var g = s.Onnx;
        var y = s.Input(node, 0);
        if (slices.Count > 0)
            y = g.Node("Slice", [y, s.Int64s(node, "starts", [.. slices.Select(x => x.Start)]), s.Int64s(node, "ends", [.. slices.Select(x => x.End)]),
                s.Int64s(node, "axes", [.. slices.Select(x => x.Axis)]), s.Int64s(node, "steps", [.. slices.Select(x => x.Step)])], $"{node.Name}/slice");
        if (squeeze.Count > 0)
            y = g.Node("Squeeze", [y, s.Int64s(node, "squeeze", [.. squeeze])], $"{node.Name}/squeeze");
        if (unsqueeze.Count > 0)
            y = g.Node("Unsqueeze", [y, s.Int64s(node, "unsqueeze", [.. unsqueeze])], $"{node.Name}/unsqueeze");
        s.Bind(node, g.Node("Identity", [y], node.Name));
    }

    private static void Slice(TfjsNode node, TranslationScope s)
    {
        var begin = s.RequireConstant(node, 1, "begin").AsLongs();
        var size = s.RequireConstant(node, 2, "size").AsLongs();
        var ends = begin.Zip(size, (b, n) => n < 0 ? long.MaxValue : b + n).ToArray();
        s.EmitAndBind(node, "Slice", [s.Input(node, 0), s.Int64s(node, "starts", begin), s.Int64s(node, "ends", ends)]);
    }

    private static void GatherV2(TfjsNode node, TranslationScope s)
    {
        if (node.Int("batch_dims", 0) != 0)
            throw new ModelConversionException($"{node}: GatherV2 with batch_dims ≠ 0 is not supported.");
        var axis = s.RequireConstant(node, 2, "axis").AsLongs()[0];
        s.EmitAndBind(node, "Gather", [s.Input(node, 0), s.Input(node, 1)], Attr.Int("axis", axis));
    }

    /// <summary>TopK along the last axis; the int64 indices are cast back to TF's int32 so the TF arithmetic that follows type-checks.</summary>
    private static void TopKV2(TfjsNode node, TranslationScope s)
    {
        var k = s.RequireConstant(node, 1, "k").AsLongs()[0];
        var g = s.Onnx;
        var outputs = g.Node("TopK", [s.Input(node, 0), s.Int64s(node, "k", [k])],
            [g.UniqueName(node.Name), g.UniqueName($"{node.Name}:1/int64")],
            Attr.Int("axis", -1), Attr.Int("largest", 1), Attr.Int("sorted", node.Bool("sorted", true) ? 1 : 0));
        var indices = g.Node("Cast", [outputs[1]], $"{node.Name}:1", Attr.Int("to", (int)TensorProto.Types.DataType.Int32));
        s.Bind(node, outputs[0], indices);
    }
}
