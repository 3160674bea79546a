using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Ilgpu;

/// <summary>TensorFlow writes MobileNetV3's hard activations as arithmetic: hard-swish as (v·α)·relu6(v + 3) and
/// hard-sigmoid (the squeeze-excite gate) as relu6(v + 3)·α, three or four launches each, with α = ⅙ as the graph
/// stores it (0.16662598 when converted through FP16, so not ONNX's HardSwish). They are replaced by one node of the
/// engine's own op type, which computes the same arithmetic and fuses into the convolution that computes v.</summary>
internal static class HardActivations
{
    public const string HardSwishRelu6 = "MoeDetect.HardSwishRelu6";
    public const string HardSigmoidRelu6 = "MoeDetect.HardSigmoidRelu6";

    public static void Apply(OnnxGraph graph)
    {
        foreach (var clip in graph.Nodes.Where(n => n.OpType == "Clip" && GraphFusion.ClipBounds(graph, n) == (0f, 6f)).ToList())
        {
            var readers = graph.ReaderCounts();
            var producers = new Dictionary<string, GraphNode>();
            foreach (var n in graph.Nodes) foreach (var o in n.Outputs) producers[o] = n;
            if (GraphFusion.SoleReader(graph, readers, clip.Outputs[0]) is not { OpType: "Mul" } scale) continue;
            if (!producers.TryGetValue(clip.Inputs[0], out var add) || add.OpType != "Add" || readers[add.Outputs[0]] != 1) continue;
            if (OtherInput(graph, add, 3) is not { } v) continue;
            string other = scale.Inputs[0] == clip.Outputs[0] ? scale.Inputs[1] : scale.Inputs[0];
            GraphNode replacement;
            List<GraphNode> replaced = [add, clip, scale];
            if (Sixth(graph, other) is { } alpha)
                replacement = Node(HardSigmoidRelu6, scale, v, alpha);
            else if (producers.TryGetValue(other, out var sixth) && sixth.OpType == "Mul" && readers[other] == 1
                     && sixth.Inputs.Count == 2 && sixth.Inputs.Contains(v) && Sixth(graph, sixth.Inputs[0] == v ? sixth.Inputs[1] : sixth.Inputs[0]) is { } a)
            {
                replacement = Node(HardSwishRelu6, scale, v, a);
                replaced.Add(sixth);
            }
            else continue;
            graph.Nodes.Insert(graph.Nodes.IndexOf(scale), replacement);
            graph.Nodes.RemoveAll(replaced.Contains);
        }
    }

    private static GraphNode Node(string opType, GraphNode last, string input, float alpha) =>
        new(opType, last.Name + "/" + opType, [input], [last.Outputs[0]], new Dictionary<string, AttributeProto>
        {
            ["alpha"] = OnnxProtos.FloatAttribute("alpha", alpha),
        });

    /// <summary>The value of a scalar constant that is ⅙ to FP16 precision.</summary>
    private static float? Sixth(OnnxGraph graph, string name) =>
        graph.Constants.TryGetValue(name, out var c) && c.Data.Length == 1 && Math.Abs(c.Data[0] - 1.0 / 6) < 1e-3 ? (float)c.Data[0] : null;

    /// <summary>The input of a binary <paramref name="node"/> that is not the scalar constant <paramref name="value"/>.</summary>
    private static string? OtherInput(OnnxGraph graph, GraphNode node, double value)
    {
        if (node.Inputs.Count != 2) return null;
        if (IsScalar(graph, node.Inputs[1], value)) return node.Inputs[0];
        return IsScalar(graph, node.Inputs[0], value) ? node.Inputs[1] : null;
    }

    private static bool IsScalar(OnnxGraph graph, string name, double value) =>
        graph.Constants.TryGetValue(name, out var c) && c.Data.Length == 1 && c.Data[0] == value;
}
