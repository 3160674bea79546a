using MoeDetect.Conversion.Onnx;
using Onnx;

namespace MoeDetect.Conversion.Tfjs;

/// <summary>
/// TF's batch_gather as a graph exported at batch 1 leaves it: params reshaped to [K, C] (the one image's K rows),
/// indices reshaped to [-1], GatherV2 on axis 0. Translated literally, those reshapes fix the batch at 1. Here the
/// params become [N·K, C] and image n's indices are offset by n·K, which is what batch_gather computes at any batch
/// and exactly the original at batch 1. The two reshapes are absorbed into the gather's translation.
/// </summary>
internal sealed class BatchGather
{
    private sealed record Match(string Params, string Indices, long RowsPerImage, long Columns);

    private readonly Dictionary<string, Match> _gathers = [];
    private readonly HashSet<string> _absorbed = [];

    /// <summary>True for a reshape that only feeds a recognised gather; it is not translated on its own.</summary>
    public bool Absorbs(TfjsNode node) => _absorbed.Contains(node.Name);

    public static BatchGather Find(IReadOnlyList<TfjsNode> order, Func<string, TfjsTensor?> constant)
    {
        var byName = order.ToDictionary(n => n.Name);
        var uses = order.SelectMany(n => n.Inputs).GroupBy(TranslationScope.NodeName).ToDictionary(g => g.Key, g => g.Count());
        (TfjsNode Node, long[] Shape)? SoleReshape(string tfRef) =>
            byName.TryGetValue(TranslationScope.NodeName(tfRef), out var n) && n.Op == "Reshape" && uses[n.Name] == 1
                && constant(n.Inputs[1]) is { } shape ? (n, shape.AsLongs()) : null;

        var found = new BatchGather();
        foreach (var gather in order.Where(n => n.Op == "GatherV2" && n.Int("batch_dims", 0) == 0 && n.Inputs.Count == 3))
        {
            if (constant(gather.Inputs[2])?.AsLongs() is not [0]
                || SoleReshape(gather.Inputs[0]) is not ({ } rows, [> 0 and var k, > 0 and var columns])
                || SoleReshape(gather.Inputs[1]) is not ({ } flat, [-1]))
                continue;
            found._gathers[gather.Name] = new Match(rows.Inputs[0], flat.Inputs[0], k, columns);
            found._absorbed.UnionWith([rows.Name, flat.Name]);
        }
        return found;
    }

    /// <summary>Translates <paramref name="node"/> when it is a recognised gather; false leaves it to the GatherV2 translator.</summary>
    public bool TryTranslate(TfjsNode node, TranslationScope s)
    {
        if (!_gathers.TryGetValue(node.Name, out var m))
            return false;
        var g = s.Onnx;
        var indexType = (int)(node.Type("Tindices") == "DT_INT64" ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Int32);
        var allRows = g.Node("Reshape", [s.Value(m.Params), s.Int64s(node, "rows", [-1, m.Columns])], $"{node.Name}/rows");
        var images = g.Node("Cast", [g.Node("Squeeze", [s.Batch()], $"{node.Name}/n")], $"{node.Name}/images", Attr.Int("to", indexType));
        var (zero, one, k) = IndexScalars(node, s, indexType, m.RowsPerImage);
        var firstRows = g.Node("Mul", [g.Node("Range", [zero, images, one], $"{node.Name}/image"), k], $"{node.Name}/first_row");
        var perImage = g.Node("Reshape", [s.Value(m.Indices), s.BatchShape(node, [-1])], $"{node.Name}/indices");
        var offset = g.Node("Add", [perImage, g.Node("Unsqueeze", [firstRows, s.Int64s(node, "column", [1])], $"{node.Name}/first_rows")],
            $"{node.Name}/offset_indices");
        var flat = g.Node("Reshape", [offset, s.Int64s(node, "flat", [-1])], $"{node.Name}/flat_indices");
        s.EmitAndBind(node, "Gather", [allRows, flat], Attr.Int("axis", 0));
        return true;
    }

    private static (string Zero, string One, string RowsPerImage) IndexScalars(TfjsNode node, TranslationScope s, int indexType, long rows)
    {
        string Scalar(string suffix, long value) => indexType == (int)TensorProto.Types.DataType.Int64
            ? s.Onnx.Int64s($"{node.Name}/{suffix}", [value], [])
            : s.Onnx.Int32s($"{node.Name}/{suffix}", [checked((int)value)], []);
        return (Scalar("zero", 0), Scalar("one", 1), Scalar("rows_per_image", rows));
    }
}
