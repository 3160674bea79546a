using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Ilgpu;

/// <summary>YOLOv8's head decode as Ultralytics exports it: Split into box and class logits; the box logits through
/// Reshape [N, 4, bins, A], Transpose (0, 2, 1, 3), Softmax over the bins, the DFL's 1×1 Conv and Reshape [N, 4, A],
/// cut in halves (two Slices or a Split) as lt and rb, then x1y1 = anchors − lt, x2y2 = anchors + rb,
/// Concat((x1y1 + x2y2) / 2, x2y2 − x1y1) · strides; the class logits through Sigmoid; Concat(boxes, classes). That is
/// 14 launches, one after the other, each a pass over the head's output: at batch 1 each costs a launch's latency on the
/// plan's longest chain, at batch 32 they took 0.5 ms of YOLOv8n's 8.8 on the H100
/// (docs/results/2026-12-07-h100-slicesums). They are replaced by one node of the engine's own op type
/// (<see cref="Boxes"/>, inputs: the head's output, the DFL weights, anchors, strides), which one kernel runs with the
/// same arithmetic (<see cref="Kernels.Tensors.DistanceBoxKernel"/>). Every value in between must have no other reader;
/// the DFL weights, anchors, strides and the divisor must be constants of the shapes the decode implies (the anchor
/// count is checked against the head's when the plan is compiled).</summary>
internal static class DistanceBoxFusion
{
    public const string Boxes = "MoeDetect.DistanceBoxes";
    /// <summary>Attribute of <see cref="Boxes"/>: the DFL's bins per side.</summary>
    public const string Bins = "bins";

    /// <summary>Set to 0 to keep the decode's nodes (to time the two against each other).</summary>
    public const string Switch = "MOEDETECT_ILGPU_DISTANCE_BOXES";

    public static void Apply(OnnxGraph graph)
    {
        // Softmax over one axis, not the rows flattened from it on.
        if (graph.Opset < 13 || Environment.GetEnvironmentVariable(Switch) == "0") return;
        foreach (var split in graph.Nodes.Where(n => n.OpType == "Split" && n.Outputs.Count == 2).ToList())
        {
            if (Match(graph, graph.ReaderCounts(), split) is not { } match) continue;
            var attributes = new Dictionary<string, AttributeProto> { [Bins] = OnnxProtos.IntAttribute(Bins, match.Bins) };
            graph.Nodes[graph.Nodes.IndexOf(match.Output)] = new GraphNode(Boxes, match.Output.Name,
                [split.Inputs[0], match.BinWeights, match.Anchors, match.Strides], [match.Output.Outputs[0]], attributes);
            foreach (var replaced in match.Replaced) graph.Nodes.Remove(replaced);
        }
    }

    private sealed record Decode(GraphNode Output, int Bins, string BinWeights, string Anchors, string Strides, GraphNode[] Replaced);

    private static Decode? Match(OnnxGraph graph, Dictionary<string, int> readers, GraphNode split)
    {
        GraphNode? Reader(GraphNode node, string opType, int output = 0) =>
            GraphFusion.SoleReader(graph, readers, node.Outputs[output]) is { } r && r.OpType == opType ? r : null;
        if (graph.IntsOf(split, "split", 1) is not [var boxRows, _] || split.Int("axis", 0) != 1) return null;
        if (Reader(split, "Reshape") is not { } boxes || Reader(boxes, "Transpose") is not { } transpose || transpose.Ints("perm") is not [0, 2, 1, 3]) return null;
        if (Reader(transpose, "Softmax") is not { } softmax || softmax.Int("axis", -1) != 1) return null;
        if (Reader(softmax, "Conv") is not { } dfl || DflBins(graph, dfl) is not int bins || boxRows != 4 * bins) return null;
        if (Reader(dfl, "Reshape") is not { } distances || Halves(graph, readers, distances.Outputs[0]) is not var (halves, lt, rb)) return null;
        if (Reader(split, "Sigmoid", output: 1) is not { } classes) return null;
        var readersOf = (string value) => graph.Nodes.Where(n => n.Inputs.Contains(value)).ToList();
        if (readersOf(lt) is not [{ OpType: "Sub" } topLeft] || topLeft.Inputs[1] != lt || !IsConstant(graph, topLeft.Inputs[0])) return null;
        string anchors = topLeft.Inputs[0];
        if (readersOf(rb) is not [{ OpType: "Add" } bottomRight] || !new[] { anchors, rb }.Order().SequenceEqual(bottomRight.Inputs.Order())) return null;
        string x1y1 = topLeft.Outputs[0], x2y2 = bottomRight.Outputs[0];
        var sum = readersOf(x1y1).SingleOrDefault(n => n.OpType == "Add" && new[] { x1y1, x2y2 }.Order().SequenceEqual(n.Inputs.Order()));
        var size = readersOf(x1y1).SingleOrDefault(n => n.OpType == "Sub" && n.Inputs.SequenceEqual([x2y2, x1y1]));
        if (sum is null || size is null || readers.GetValueOrDefault(x1y1) != 2 || readers.GetValueOrDefault(x2y2) != 2) return null;
        if (Reader(sum, "Div") is not { } half || half.Inputs[0] != sum.Outputs[0] || !IsScalar(graph, half.Inputs[1], 2)) return null;
        if (Reader(half, "Concat") is not { } box || box.Int("axis", 0) != 1 || !box.Inputs.SequenceEqual([half.Outputs[0], size.Outputs[0]])
            || GraphFusion.SoleReader(graph, readers, size.Outputs[0]) != box) return null;
        if (Reader(box, "Mul") is not { } scaled || scaled.Inputs.FirstOrDefault(i => i != box.Outputs[0]) is not { } strides || !IsConstant(graph, strides)) return null;
        if (Reader(scaled, "Concat") is not { } output || output.Int("axis", 0) != 1 || !output.Inputs.SequenceEqual([scaled.Outputs[0], classes.Outputs[0]])
            || GraphFusion.SoleReader(graph, readers, classes.Outputs[0]) != output) return null;
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

    /// <summary>The two halves of [N, 4, A] along axis 1, (left, top) and (right, bottom): a Split in two, or two Slices
    /// of constant bounds [0, 2) and [2, 4).</summary>
    private static (GraphNode[] Nodes, string Lt, string Rb)? Halves(OnnxGraph graph, Dictionary<string, int> readers, string distances)
    {
        var nodes = graph.Nodes.Where(n => n.Inputs.Contains(distances)).ToList();
        if (readers.GetValueOrDefault(distances) != nodes.Count || graph.OutputNames.Contains(distances)) return null;
        if (nodes is [{ OpType: "Split" } split] && split.Outputs.Count == 2 && split.Int("axis", 0) == 1
            && (graph.IntsOf(split, "split", 1) is null or [2, 2]))
            return ([split], split.Outputs[0], split.Outputs[1]);
        if (nodes.Count != 2 || nodes.Any(n => n.OpType != "Slice")) return null;
        var lt = nodes.SingleOrDefault(n => SliceBounds(graph, n) == (0, 2));
        var rb = nodes.SingleOrDefault(n => SliceBounds(graph, n) is (2, >= 4));
        return lt is null || rb is null ? null : (nodes.ToArray(), lt.Outputs[0], rb.Outputs[0]);
    }

    /// <summary>A Slice's [start, end) along axis 1, step 1, from constant inputs (opset 10 on); null otherwise.</summary>
    private static (long Start, long End)? SliceBounds(OnnxGraph graph, GraphNode slice)
    {
        if (graph.IntsOf(slice, "starts", 1) is not [var start] || graph.IntsOf(slice, "ends", 2) is not [var end]) return null;
        if (graph.IntsOf(slice, "axes", 3) is not [1] || (graph.IntsOf(slice, "steps", 4) ?? [1]) is not [1]) return null;
        return (start, end);
    }

    private static bool IsConstant(OnnxGraph graph, string name) => graph.Constants.ContainsKey(name);

    private static bool IsScalar(OnnxGraph graph, string name, double value) =>
        graph.Constants.TryGetValue(name, out var t) && t.Data is [var v] && v == value;
}
