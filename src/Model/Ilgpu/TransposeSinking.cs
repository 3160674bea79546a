using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Moves Transpose nodes below the operators that do not care about layout, so that the NHWC↔NCHW pairs
/// TensorFlow converters wrap around every convolution meet and cancel: the graph then runs NCHW from the first
/// convolution to the last. An operator whose data inputs are all Transpose(x, p) (same p) or constants computes
/// on the x's instead (constants permuted by p⁻¹, axes attributes mapped through p) and a Transpose(p) follows it.
/// Operators that do care about layout (Conv, pooling, Reshape …) stop the transposes.</summary>
internal static class TransposeSinking
{
    private static readonly HashSet<string> Pointwise =
    [
        "Relu", "Clip", "Sigmoid", "LeakyRelu", "HardSigmoid", "HardSwish", "Tanh", "Exp", "Log", "Neg", "Sqrt", "Abs",
        "Floor", "Ceil", "Round", "Reciprocal", "Cast", "Identity",
    ];

    private static readonly HashSet<string> Broadcasting =
        ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Equal", "Less", "Greater", "PRelu"];

    private static readonly HashSet<string> Reductions = ["ReduceMean", "ReduceSum", "ReduceMax"];

    public static void Apply(OnnxGraph graph)
    {
        var producers = Producers(graph);
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            var node = graph.Nodes[i];
            ReadThroughCancellingPairs(node, producers);
            if (TrySink(graph, producers, node) is not { } perm) continue;
            // The node now computes in the transposes' source layout; a Transpose after each output restores the
            // layout its readers expect (and meets the next NHWC→NCHW transpose, which cancels it).
            for (int o = 0; o < node.Outputs.Count; o++)
            {
                string original = node.Outputs[o];
                if (original.Length == 0) continue;
                node.Outputs[o] = original + "/before_transpose";
                var transpose = NewTranspose(node.Name + "/transpose_" + o, node.Outputs[o], original, perm);
                graph.Nodes.Insert(++i, transpose);
                producers[node.Outputs[o]] = node;
                producers[original] = transpose;
            }
        }
    }

    /// <summary>An input that is Transpose(q) of Transpose(p) with q∘p = identity is read from before both; the pair
    /// is removed once nothing else reads it.</summary>
    private static void ReadThroughCancellingPairs(GraphNode node, Dictionary<string, GraphNode> producers)
    {
        for (int i = 0; i < node.Inputs.Count; i++)
        {
            if (!producers.TryGetValue(node.Inputs[i], out var second) || second.OpType != "Transpose") continue;
            if (!producers.TryGetValue(second.Inputs[0], out var first) || first.OpType != "Transpose") continue;
            long[]? p = first.Ints("perm"), q = second.Ints("perm");
            if (p is null || q is null || p.Length != q.Length || Enumerable.Range(0, q.Length).Any(a => p[q[a]] != a)) continue;
            node.Inputs[i] = first.Inputs[0];
        }
    }

    /// <summary>Rewrites <paramref name="node"/> to read the transposes' inputs and returns their permutation, or
    /// returns null and leaves the node as it is.</summary>
    private static long[]? TrySink(OnnxGraph graph, Dictionary<string, GraphNode> producers, GraphNode node)
    {
        int[] data = node.OpType switch
        {
            _ when Pointwise.Contains(node.OpType) || Reductions.Contains(node.OpType) => [0],
            "Split" or "Slice" or "Resize" or "Pad" => [0],
            _ when Broadcasting.Contains(node.OpType) || node.OpType == "Concat" => Enumerable.Range(0, node.Inputs.Count).ToArray(),
            _ => [],
        };
        long[]? perm = null;
        foreach (int i in data)
        {
            if (node.Input(i) is not { } name || graph.Constants.ContainsKey(name)) continue;
            if (!producers.TryGetValue(name, out var p) || p.OpType != "Transpose" || p.Ints("perm") is not { } pp) return null;
            if (perm is not null && !perm.SequenceEqual(pp)) return null;
            perm = pp;
        }
        if (perm is null || !IsPermutation(perm)) return null;
        var rewritten = Rewrite(graph, node, perm);
        if (rewritten is null) return null;
        foreach (int i in data)
            if (node.Input(i) is { } name)
                node.Inputs[i] = graph.Constants.ContainsKey(name) ? PermutedConstant(graph, name, perm) : producers[name].Inputs[0];
        foreach (var (index, value) in rewritten.Inputs) node.Inputs[index] = value;
        node.Attributes = rewritten.Attributes;
        return perm;
    }

    private sealed record Rewritten(IReadOnlyDictionary<string, AttributeProto> Attributes, List<(int Index, string Value)> Inputs);

    /// <summary>The attributes and non-data inputs the node needs in the transposes' source layout, or null where
    /// the node cannot move (its constants do not fit, or its parameters depend on the image).</summary>
    private static Rewritten? Rewrite(OnnxGraph graph, GraphNode node, long[] perm)
    {
        var attributes = new Dictionary<string, AttributeProto>(node.Attributes);
        var inputs = new List<(int, string)>();
        int rank = perm.Length;
        long Map(long axis) => perm[axis < 0 ? axis + rank : axis];
        switch (node.OpType)
        {
            case var op when Broadcasting.Contains(op) || op == "Concat":
                if (node.Inputs.Any(i => graph.Constants.TryGetValue(i, out var c) && c.Shape.Length > rank)) return null;
                if (op == "Concat") attributes["axis"] = OnnxProtos.IntAttribute("axis", Map(node.Int("axis", 0)));
                break;
            case var op when Reductions.Contains(op):
                if (node.Int("keepdims", 1) == 0) return null;
                if (node.Ints("axes") is { } axes) attributes["axes"] = OnnxProtos.IntsAttribute("axes", axes.Select(Map));
                else if (node.Input(1) is { } a && graph.Constants.TryGetValue(a, out var t))
                    inputs.Add((1, NewConstant(graph, a, HostTensor.Integers(t.ToLongs().Select(Map)))));
                else return null;
                break;
            case "Split":
                attributes["axis"] = OnnxProtos.IntAttribute("axis", Map(node.Int("axis", 0)));
                break;
            case "Slice" when node.Ints("starts") is { } starts:
                // Before opset 10 starts, ends and axes are attributes; axes default to the leading ones.
                attributes["axes"] = OnnxProtos.IntsAttribute("axes", (node.Ints("axes") ?? Enumerable.Range(0, starts.Length).Select(a => (long)a).ToArray()).Select(Map));
                break;
            case "Slice":
                if (node.Input(3) is { } sliceAxes)
                {
                    if (!graph.Constants.TryGetValue(sliceAxes, out var t)) return null;
                    inputs.Add((3, NewConstant(graph, sliceAxes, HostTensor.Integers(t.ToLongs().Select(Map)))));
                }
                else if (node.Input(1) is { } starts && graph.Constants.TryGetValue(starts, out var s) && node.Inputs.Count >= 3)
                {
                    var leading = HostTensor.Integers(Enumerable.Range(0, s.Data.Length).Select(a => Map(a)));
                    var name = NewConstant(graph, node.Name + "/axes", leading);
                    if (node.Inputs.Count == 3) node.Inputs.Add(name); else inputs.Add((3, name));
                }
                else return null;
                break;
            case "Pad" when node.Ints("pads") is { } pads:
                attributes["pads"] = OnnxProtos.IntsAttribute("pads", PermutedPads(pads, perm));
                break;
            case "Pad":
                if (node.Input(3) is not null || node.Input(1) is not { } padsInput || !graph.Constants.TryGetValue(padsInput, out var p)) return null;
                inputs.Add((1, NewConstant(graph, padsInput, HostTensor.Integers(PermutedPads(p.ToLongs(), perm)))));
                break;
            case "Resize":
                // Scales or sizes per axis move with the axes; an empty roi is ignored (other modes need none).
                if (node.Input(1) is { } roi && (!graph.Constants.TryGetValue(roi, out var r) || r.Data.Length > 0)) return null;
                foreach (int i in new[] { 2, 3 })
                {
                    if (node.Input(i) is not { } name) continue;
                    if (!graph.Constants.TryGetValue(name, out var t)) return null;
                    if (t.Data.Length == 0) continue;
                    if (t.Data.Length != rank) return null;
                    var moved = new double[rank];
                    for (int a = 0; a < rank; a++) moved[perm[a]] = t.Data[a];
                    inputs.Add((i, NewConstant(graph, name, t with { Data = moved })));
                }
                break;
        }
        return new Rewritten(attributes, inputs);
    }

    /// <summary>Pad's [begin per axis…, end per axis…] for the untransposed tensor.</summary>
    private static long[] PermutedPads(long[] pads, long[] perm)
    {
        int rank = perm.Length;
        var moved = new long[2 * rank];
        for (int a = 0; a < rank; a++)
        {
            moved[perm[a]] = pads[a];
            moved[rank + perm[a]] = pads[rank + a];
        }
        return moved;
    }

    /// <summary>A constant broadcast against a tensor transposed by <paramref name="perm"/>, rewritten for the
    /// untransposed tensor: left-padded to full rank and transposed by the inverse permutation.</summary>
    private static string PermutedConstant(OnnxGraph graph, string name, long[] perm)
    {
        var c = graph.Constants[name];
        if (c.Data.Length == 1) return name;
        int rank = perm.Length;
        int[] shape = [.. Enumerable.Repeat(1, rank - c.Shape.Length), .. c.Shape];
        var inverse = new int[rank];
        for (int a = 0; a < rank; a++) inverse[perm[a]] = a;
        int[] moved = inverse.Select(a => shape[a]).ToArray();
        var strides = Strides(shape);
        var data = new double[c.Data.Length];
        var index = new int[rank];
        for (int i = 0; i < data.Length; i++)
        {
            // index is the position in the moved tensor; axis j of it is axis inverse[j] of the original.
            int source = 0;
            for (int j = 0; j < rank; j++) source += index[j] * strides[inverse[j]];
            data[i] = c.Data[source];
            for (int j = rank - 1; j >= 0 && ++index[j] == moved[j]; j--) index[j] = 0;
        }
        return NewConstant(graph, name, new HostTensor(data, moved, c.IsInteger));
    }

    private static int[] Strides(int[] shape)
    {
        var strides = new int[shape.Length];
        for (int a = shape.Length - 1, s = 1; a >= 0; s *= shape[a], a--) strides[a] = s;
        return strides;
    }

    private static string NewConstant(OnnxGraph graph, string basis, HostTensor value)
    {
        string name = basis + "/untransposed";
        while (graph.Constants.ContainsKey(name)) name += "'";
        graph.Constants[name] = value;
        return name;
    }

    private static GraphNode NewTranspose(string name, string input, string output, long[] perm) =>
        new("Transpose", name, [input], [output], new Dictionary<string, AttributeProto> { ["perm"] = OnnxProtos.IntsAttribute("perm", perm) });

    private static bool IsPermutation(long[] perm) => perm.Order().SequenceEqual(Enumerable.Range(0, perm.Length).Select(i => (long)i));

    private static Dictionary<string, GraphNode> Producers(OnnxGraph graph)
    {
        var producers = new Dictionary<string, GraphNode>();
        foreach (var n in graph.Nodes) foreach (var o in n.Outputs) producers[o] = n;
        return producers;
    }
}
