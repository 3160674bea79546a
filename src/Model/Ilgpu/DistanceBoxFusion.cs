using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Ilgpu;

/// <summary>YOLOv8's head decode as Ultralytics exports it: Split into box and class logits; the box logits through
/// Reshape [N, 4, bins, A], Transpose (0, 2, 1, 3), Softmax over the bins, the DFL's 1×1 Conv and Reshape [N, 4, A],
/// cut in halves (two Slices or a Split) as lt and rb, then x1y1 = anchors − lt, x2y2 = anchors + rb,
/// Concat((x1y1 + x2y2) / 2, x2y2 − x1y1) · strides; the class logits through Sigmoid; Concat(boxes, classes). That is
/// 14 launches, one after the other, each a pass over the head's output. They are replaced by one node of the engine's
/// own op type (<see cref="Boxes"/>, inputs: the head's output, the DFL weights, anchors, strides), which one kernel runs
/// with the same arithmetic (<see cref="Kernels.Tensors.DistanceBoxKernel"/>). Every value in between must have no other reader;
/// the DFL weights, anchors, strides and the divisor must be constants of the shapes the decode implies (the anchor
/// count is checked against the head's when the plan is compiled). On the H100 it took YOLOv8n's plan from 8.77 to
/// 8.41 ms at batch 32 and from 0.915 to 0.893 ms at batch 1 (docs/results/2026-12-07-h100-boxes); the boxes also
/// come out in FP32, where the DFL's 1×1 Conv ran on tensor cores (TF32).</summary>
internal static class DistanceBoxFusion
{
    public const string Boxes = "MoeDetect.DistanceBoxes";
    /// <summary>Attribute of <see cref="Boxes"/>: the DFL's bins per side.</summary>
    public const string Bins = "bins";

    public static void Apply(OnnxGraph graph)
    {
        // Softmax over one axis, not the rows flattened from it on.
        if (graph.Opset < 13) return;
        foreach (var split in graph.Nodes.Where(n => n.OpType == "Split" && n.Outputs.Count == 2).ToList())
        {
            if (Match(graph, split) is not { } match) continue;
            var before = graph.Nodes.ToList();
            var attributes = new Dictionary<string, AttributeProto> { [Bins] = OnnxProtos.IntAttribute(Bins, match.Bins) };
            graph.Nodes[graph.Nodes.IndexOf(match.Output)] = new GraphNode(Boxes, match.Output.Name,
                [split.Inputs[0], match.BinWeights, match.Anchors, match.Strides], [match.Output.Outputs[0]], attributes);
            foreach (var replaced in match.Replaced) graph.Nodes.Remove(replaced);
            if (DropReadersOf(graph, match.Replaced.SelectMany(n => n.Outputs).ToHashSet())) continue;
            graph.Nodes.Clear();
            graph.Nodes.AddRange(before);
        }
    }

    /// <summary>Removes what reads the replaced values, and what reads that: the shape arithmetic a dynamic batch
    /// computes from them (the Reshapes' targets, the halves' bounds). False where some of it is more than shape
    /// arithmetic or a graph output.</summary>
    private static bool DropReadersOf(OnnxGraph graph, HashSet<string> gone)
    {
        while (graph.Nodes.Where(n => n.Inputs.Any(gone.Contains)).ToList() is { Count: > 0 } readers)
        {
            if (readers.Any(r => !ShapeOperators.Contains(r.OpType))) return false;
            foreach (var reader in readers)
            {
                graph.Nodes.Remove(reader);
                gone.UnionWith(reader.Outputs);
            }
        }
        return !graph.OutputNames.Any(gone.Contains);
    }

    private static readonly HashSet<string> ShapeOperators = ["Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Add", "Sub", "Mul", "Div", "Cast", "Identity"];

    private sealed record Decode(GraphNode Output, int Bins, string BinWeights, string Anchors, string Strides, GraphNode[] Replaced);

    private static Decode? Match(OnnxGraph graph, GraphNode split)
    {
        var readers = graph.DataReaderCounts();
        var readersOf = (string value) => graph.Nodes.Where(n => n.ReadsData && n.Inputs.Contains(value)).ToList();
        GraphNode? Reader(GraphNode node, string opType, int output = 0) =>
            readersOf(node.Outputs[output]) is [var r] && r.OpType == opType && readers.GetValueOrDefault(node.Outputs[output]) == 1 ? r : null;
        if (graph.IntsOf(split, "split", 1) is not [var boxRows, _] || split.Int("axis", 0) != 1) return null;
        if (Reader(split, "Reshape") is not { } boxes || Reader(boxes, "Transpose") is not { } transpose || transpose.Ints("perm") is not [0, 2, 1, 3]) return null;
        if (Reader(transpose, "Softmax") is not { } softmax || softmax.Int("axis", -1) != 1) return null;
        if (Reader(softmax, "Conv") is not { } dfl || DflBins(graph, dfl) is not int bins || boxRows != 4 * bins) return null;
        if (Reader(dfl, "Reshape") is not { } distances) return null;
        // [N, 4 · bins, A] → [N, 4, bins, A], so that the Softmax after the Transpose runs over the bins (with 4 bins the
        // shapes cannot tell sides from bins: not fused); [N, 1, 4, A] → [N, 4, A].
        var arithmetic = new ShapeArithmetic(graph, distances);
        if (bins == 4 || arithmetic.Values(boxes.Input(1)) is not [_, 4L, var perSide, _] || perSide != bins
            || arithmetic.Values(distances.Input(1)) is not [_, 4L, _]) return null;
        if (Halves(graph, readersOf(distances.Outputs[0]), distances, arithmetic) is not var (halves, lt, rb)) return null;
        if (Reader(split, "Sigmoid", output: 1) is not { } classes) return null;
        if (readersOf(lt) is not [{ OpType: "Sub" } topLeft] || topLeft.Inputs[1] != lt || !IsConstant(graph, topLeft.Inputs[0])) return null;
        string anchors = topLeft.Inputs[0];
        // PyTorch writes the anchors once for each use: equal constants, named apart.
        if (readersOf(rb) is not [{ OpType: "Add" } bottomRight] || bottomRight.Inputs.FirstOrDefault(i => i != rb) is not { } otherAnchors
            || !SameConstant(graph, anchors, otherAnchors)) return null;
        string x1y1 = topLeft.Outputs[0], x2y2 = bottomRight.Outputs[0];
        var sum = readersOf(x1y1).SingleOrDefault(n => n.OpType == "Add" && new[] { x1y1, x2y2 }.Order().SequenceEqual(n.Inputs.Order()));
        var size = readersOf(x1y1).SingleOrDefault(n => n.OpType == "Sub" && n.Inputs.SequenceEqual([x2y2, x1y1]));
        if (sum is null || size is null || readers.GetValueOrDefault(x1y1) != 2 || readers.GetValueOrDefault(x2y2) != 2) return null;
        if (Reader(sum, "Div") is not { } half || half.Inputs[0] != sum.Outputs[0] || !IsScalar(graph, half.Inputs[1], 2)) return null;
        if (Reader(half, "Concat") is not { } box || box.Int("axis", 0) != 1 || !box.Inputs.SequenceEqual([half.Outputs[0], size.Outputs[0]])
            || Reader(size, "Concat") != box) return null;
        if (Reader(box, "Mul") is not { } scaled || scaled.Inputs.FirstOrDefault(i => i != box.Outputs[0]) is not { } strides || !IsConstant(graph, strides)) return null;
        if (Reader(scaled, "Concat") is not { } output || output.Int("axis", 0) != 1 || !output.Inputs.SequenceEqual([scaled.Outputs[0], classes.Outputs[0]])
            || Reader(classes, "Concat") != output) return null;
        int anchorCount = graph.Constants[strides].Data.Length;
        if (graph.Constants[anchors].Data.Length != 2 * anchorCount || graph.Constants[anchors].Shape.Reverse().Skip(1).FirstOrDefault() != 2) return null;
        return new Decode(output, bins, dfl.Inputs[1], anchors, strides,
            [split, boxes, transpose, softmax, dfl, distances, .. halves, topLeft, bottomRight, sum, size, half, box, scaled, classes]);
    }

    /// <summary>The bins of a DFL Conv: 1×1 weights [1, bins, 1, 1], constant, no bias, no padding or stride.</summary>
    private static int? DflBins(OnnxGraph graph, GraphNode conv)
    {
        if (conv.Input(2) is not null || conv.Input(1) is not { } w || !graph.Constants.TryGetValue(w, out var weights)) return null;
        if (weights.Shape is not [1, var bins, 1, 1] || conv.Int("group", 1) != 1) return null;
        bool plain = (conv.Ints("pads") ?? [0, 0, 0, 0]).All(p => p == 0) && (conv.Ints("strides") ?? [1, 1]).All(s => s == 1)
            && conv.Text("auto_pad", "NOTSET") is "NOTSET" or "VALID";
        return plain ? bins : null;
    }

    /// <summary>The two halves of the distances [N, 4, A] along axis 1, (left, top) and (right, bottom): a Split in two,
    /// or two Slices [0, 2) and [2, 4), their bounds constant or computed from the distances' shape (PyTorch's chunk
    /// with a dynamic batch: ((4 + 1) / 2) · 1 and · 2).</summary>
    private static (GraphNode[] Nodes, string Lt, string Rb)? Halves(OnnxGraph graph, List<GraphNode> nodes, GraphNode distances, ShapeArithmetic arithmetic)
    {
        if (graph.OutputNames.Contains(distances.Outputs[0])) return null;
        if (nodes is [{ OpType: "Split" } split] && split.Outputs.Count == 2 && split.Int("axis", 0) == 1
            && (graph.IntsOf(split, "split", 1) is null or [2, 2]))
            return ([split], split.Outputs[0], split.Outputs[1]);
        if (nodes.Count != 2 || nodes.Any(n => n.OpType != "Slice")) return null;
        var lt = nodes.SingleOrDefault(n => arithmetic.SliceBounds(n) == (0, 2));
        var rb = nodes.SingleOrDefault(n => arithmetic.SliceBounds(n) is (2, >= 4));
        return lt is null || rb is null ? null : (nodes.ToArray(), lt.Outputs[0], rb.Outputs[0]);
    }

    private static bool IsConstant(OnnxGraph graph, string name) => graph.Constants.ContainsKey(name);

    private static bool SameConstant(OnnxGraph graph, string a, string b) =>
        graph.Constants.TryGetValue(a, out var x) && graph.Constants.TryGetValue(b, out var y) && x.Shape.SequenceEqual(y.Shape) && x.Data.SequenceEqual(y.Data);

    private static bool IsScalar(OnnxGraph graph, string name, double value) =>
        graph.Constants.TryGetValue(name, out var t) && t.Data is [var v] && v == value;

    /// <summary>Integer shape arithmetic evaluated at load time as far as it is known: constants, and the shape of a
    /// Reshape's output as its target gives it (0 and −1 unknown), through Shape, Gather, Unsqueeze, Squeeze, Cast,
    /// Concat and the four operations. Enough for the bounds PyTorch computes for a chunk of a dynamic-batch tensor.</summary>
    private sealed class ShapeArithmetic(OnnxGraph graph, GraphNode reshape)
    {
        /// <summary>A Slice's [start, end) along axis 1 with step 1; null where not known or otherwise.</summary>
        public (long Start, long End)? SliceBounds(GraphNode slice)
        {
            if (Values(slice.Input(1)) is not [long start] || Values(slice.Input(2)) is not [long end]) return null;
            if (Values(slice.Input(3)) is not [1L] || (slice.Input(4) is { } steps && Values(steps) is not [1L])) return null;
            return (start, end);
        }

        /// <summary>The integers <paramref name="name"/> holds, null elements where unknown; null where not worked out.</summary>
        public long?[]? Values(string? name)
        {
            if (name is null) return null;
            if (graph.Constants.TryGetValue(name, out var constant)) return constant.ToLongs().Select(v => (long?)v).ToArray();
            if (graph.Nodes.FirstOrDefault(n => n.Outputs.Contains(name)) is not { } node) return null;
            var first = node.Input(0);
            return node.OpType switch
            {
                "Shape" when first == reshape.Outputs[0] && node.IsWholeShape =>
                    Values(reshape.Input(1))?.Select(d => d > 0 ? d : null).ToArray(),
                "Unsqueeze" or "Squeeze" or "Cast" or "Identity" => Values(first),
                // Unknown data (another tensor's shape): as many unknowns as indices.
                "Gather" when node.Int("axis", 0) == 0 && Values(node.Input(1)) is { } at => Values(first) is { } data
                    ? at.Select(i => i is long k && k >= -data.Length && k < data.Length ? data[k < 0 ? k + data.Length : k] : null).ToArray()
                    : new long?[at.Length],
                "Concat" when node.Inputs.Select(Values).ToList() is var parts && parts.All(p => p is not null) => parts.SelectMany(p => p!).ToArray(),
                "Add" or "Sub" or "Mul" or "Div" => Combine(node.OpType, Values(first), Values(node.Input(1))),
                _ => null,
            };
        }

        private static long?[]? Combine(string op, long?[]? a, long?[]? b)
        {
            if (a is null || b is null || (a.Length != b.Length && a.Length != 1 && b.Length != 1)) return null;
            return Enumerable.Range(0, Math.Max(a.Length, b.Length)).Select(i =>
            {
                if (a[a.Length == 1 ? 0 : i] is not long x || b[b.Length == 1 ? 0 : i] is not long y) return (long?)null;
                return op switch { "Add" => x + y, "Sub" => x - y, "Mul" => x * y, _ => y == 0 ? null : x / y };
            }).ToArray();
        }
    }
}
