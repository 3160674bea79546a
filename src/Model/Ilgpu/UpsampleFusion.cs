using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Ilgpu;

/// <summary>TensorFlow's ResizeBilinear ×2 (output i reads input i / 2, the last row repeated at the edge), as the
/// ES-MoE pieces' PyTorch export spells it along each axis a of t: next = Concat(t[1:n], t[n−1:n]) along a;
/// o = t + (next − t) · 0.5; Unsqueeze t and o at a + 1, Concat there and Reshape the pair of axes into one. That is
/// ten launches a doubled axis, each a pass over the tensor (slices, concatenations, arithmetic, interleaving copies);
/// the rewrite makes it one ONNX Resize (linear, asymmetric, scale 2 along a), one kernel. The slice bounds and the
/// reshape's target come from Shape nodes: they are checked symbolically, as offsets from t's own size along a.</summary>
internal static class UpsampleFusion
{
    /// <summary>Starts or ends given as this or more run to the end of the axis.</summary>
    private const long ToTheEnd = int.MaxValue;

    public static void Apply(OnnxGraph graph)
    {
        if (graph.Opset < 11) return;  // Resize's inputs were different before opset 11
        var producers = Producers(graph);
        // Shape nodes read only the sizes, which the Resize keeps: the interleaved pair's Shape feeds the reshape target.
        var readers = graph.DataReaderCounts();
        foreach (var reshape in graph.Nodes.Where(n => n.OpType == "Reshape").ToList())
        {
            if (Match(graph, producers, readers, reshape) is not { } match) continue;
            string scales = $"{reshape.Name}/upsample2x_scales";
            graph.Constants[scales] = new HostTensor(Enumerable.Range(0, 4).Select(i => i == match.Axis ? 2.0 : 1.0).ToArray(), [4], false);
            var attributes = new Dictionary<string, AttributeProto>
            {
                ["mode"] = OnnxProtos.StringAttribute("mode", "linear"),
                ["coordinate_transformation_mode"] = OnnxProtos.StringAttribute("coordinate_transformation_mode", "asymmetric"),
            };
            graph.Nodes[graph.Nodes.IndexOf(reshape)] = new GraphNode("Resize", reshape.Name, [match.Tensor, "", scales], [reshape.Outputs[0]], attributes);
            foreach (var replaced in match.Replaced) graph.Nodes.Remove(replaced);
            producers = Producers(graph);
            readers = graph.DataReaderCounts();
        }
    }

    private sealed record Upsample(string Tensor, int Axis, GraphNode[] Replaced);

    private static Upsample? Match(OnnxGraph graph, Dictionary<string, GraphNode> producers, Dictionary<string, int> readers, GraphNode reshape)
    {
        GraphNode? Sole(string value, string opType) =>
            producers.TryGetValue(value, out var p) && p.OpType == opType && readers.GetValueOrDefault(value) == 1 && !graph.OutputNames.Contains(value) ? p : null;

        if (Sole(reshape.Inputs[0], "Concat") is not { Inputs.Count: 2 } pair) return null;
        int interleaved = (int)pair.Int("axis", -1), axis = interleaved - 1;
        if (axis is not (2 or 3)) return null;
        if (Sole(pair.Inputs[0], "Unsqueeze") is not { } original || Sole(pair.Inputs[1], "Unsqueeze") is not { } between) return null;
        if (graph.IntsOf(original, "axes", 1) is not [var a0] || a0 != interleaved || graph.IntsOf(between, "axes", 1) is not [var a1] || a1 != interleaved) return null;
        string t = original.Inputs[0];
        if (Sole(between.Inputs[0], "Add") is not { } add || OtherInput(add, t) is not { } halfStep) return null;
        if (Sole(halfStep, "Mul") is not { } mul || !(IsHalf(graph, mul.Inputs[0]) || IsHalf(graph, mul.Inputs[1]))) return null;
        string difference = IsHalf(graph, mul.Inputs[0]) ? mul.Inputs[1] : mul.Inputs[0];
        if (Sole(difference, "Sub") is not { } sub || sub.Inputs[1] != t) return null;
        if (Sole(sub.Inputs[0], "Concat") is not { Inputs.Count: 2 } next || next.Int("axis", -1) != axis) return null;
        if (Sole(next.Inputs[0], "Slice") is not { } rest || Sole(next.Inputs[1], "Slice") is not { } last) return null;
        bool shifted = SlicesAxis(graph, producers, rest, t, axis, start: new Offset(null, 0, 1), end: new Offset(t, axis, 0));
        bool edge = SlicesAxis(graph, producers, last, t, axis, start: new Offset(t, axis, -1), end: new Offset(t, axis, 0));
        if (!shifted || !edge || !MergesAxisPair(graph, producers, reshape.Inputs[1], pair.Outputs[0], axis)) return null;
        return new Upsample(t, axis, [rest, last, next, sub, mul, add, original, between, pair]);
    }

    /// <summary>x[start:end] along <paramref name="axis"/> only, step 1, with bounds as given (an end may also run past
    /// the axis).</summary>
    private static bool SlicesAxis(OnnxGraph graph, Dictionary<string, GraphNode> producers, GraphNode slice, string x, int axis, Offset start, Offset end)
    {
        if (slice.Inputs[0] != x || slice.Input(3) is not { } axes || slice.Input(4) is { } steps && !IsConstant(graph, steps, 1)) return false;
        if (!IsConstant(graph, axes, axis)) return false;
        var from = Scalar(graph, producers, slice.Inputs[1]);
        var to = Scalar(graph, producers, slice.Inputs[2]);
        return from == start && (to == end || to is { Tensor: null, Value: >= ToTheEnd });
    }

    /// <summary>The reshape target Concat(Shape(c)[0:axis], [−1], Shape(c)[axis + 2:]) of the 5-D interleaved c: its
    /// axes axis and axis + 1 made one.</summary>
    private static bool MergesAxisPair(OnnxGraph graph, Dictionary<string, GraphNode> producers, string target, string c, int axis)
    {
        if (!producers.TryGetValue(target, out var concat) || concat.OpType != "Concat" || concat.Int("axis", -1) != 0) return false;
        var parts = concat.Inputs;
        bool hasTail = axis + 2 < 5;
        if (parts.Count != (hasTail ? 3 : 2) || !IsShapeSlice(graph, producers, parts[0], c, 0, axis) || !IsConstant(graph, parts[1], -1)) return false;
        return !hasTail || IsShapeSlice(graph, producers, parts[2], c, axis + 2, 5);
    }

    /// <summary>Shape(x)[from:to] (an end past the rank counts as the rank, here 5).</summary>
    private static bool IsShapeSlice(OnnxGraph graph, Dictionary<string, GraphNode> producers, string value, string x, long from, long to) =>
        producers.TryGetValue(value, out var slice) && slice.OpType == "Slice"
        && producers.TryGetValue(slice.Inputs[0], out var shape) && shape.IsWholeShape && shape.Inputs[0] == x
        && IsConstant(graph, slice.Inputs[1], from)
        && graph.Constants.TryGetValue(slice.Inputs[2], out var end) && end.Data is [var e] && (e == to || to == 5 && e >= 5)
        && (slice.Input(3) is not { } axes || IsConstant(graph, axes, 0)) && (slice.Input(4) is not { } steps || IsConstant(graph, steps, 1));

    /// <summary>A scalar of shape arithmetic: a constant (<see cref="Offset.Tensor"/> null), or a tensor's size along
    /// an axis plus a constant, as Gather(Shape(x), axis) and Add/Sub of constants compute it.</summary>
    private readonly record struct Offset(string? Tensor, int Axis, long Value);

    private static Offset? Scalar(OnnxGraph graph, Dictionary<string, GraphNode> producers, string value)
    {
        // Ends of "to the end" (INT64_MAX, beyond a double's exact range) all count as ToTheEnd.
        if (graph.Constants.TryGetValue(value, out var c)) return c.Data is [var v] ? new Offset(null, 0, v >= ToTheEnd ? ToTheEnd : (long)v) : null;
        if (!producers.TryGetValue(value, out var node)) return null;
        switch (node.OpType)
        {
            case "Unsqueeze" or "Squeeze" or "Cast" or "Identity":
                return Scalar(graph, producers, node.Inputs[0]);
            case "Gather" when producers.TryGetValue(node.Inputs[0], out var shape) && shape.IsWholeShape
                && graph.Constants.TryGetValue(node.Inputs[1], out var index) && index.Data is [var i]:
                return new Offset(shape.Inputs[0], (int)i, 0);
            case "Add" or "Sub":
                var (a, b) = (Scalar(graph, producers, node.Inputs[0]), Scalar(graph, producers, node.Inputs[1]));
                if (a is null || b is null) return null;
                if (node.OpType == "Sub") return b.Value.Tensor is null ? a.Value with { Value = a.Value.Value - b.Value.Value } : null;
                if (a.Value.Tensor is not null && b.Value.Tensor is not null) return null;
                var (sized, constant) = a.Value.Tensor is not null ? (a.Value, b.Value) : (b.Value, a.Value);
                return sized with { Value = sized.Value + constant.Value };
            default:
                return null;
        }
    }

    private static string? OtherInput(GraphNode node, string input) =>
        node.Inputs.Count == 2 && node.Inputs.Contains(input) ? node.Inputs.First(i => i != input) : null;

    private static bool IsHalf(OnnxGraph graph, string value) => graph.Constants.TryGetValue(value, out var c) && c.Data is [0.5];

    private static bool IsConstant(OnnxGraph graph, string value, long expected) =>
        graph.Constants.TryGetValue(value, out var c) && c.Data is [var v] && v == expected;

    private static Dictionary<string, GraphNode> Producers(OnnxGraph graph)
    {
        var producers = new Dictionary<string, GraphNode>();
        foreach (var node in graph.Nodes)
            foreach (var output in node.Outputs.Where(o => o.Length > 0)) producers[output] = node;
        return producers;
    }
}
