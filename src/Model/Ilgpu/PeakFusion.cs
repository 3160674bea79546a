using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Ilgpu;

/// <summary>CenterNet's peak test before its top-k, x · Cast(Equal(x, MaxPool(x))), is four passes over the class
/// heatmap, and TensorFlow's decoding then transposes the result to channels-last: five. They are replaced by one node
/// of the engine's own op type that one kernel runs (<see cref="Kernels.Tensors.PoolingKernels.Peaks"/>), with the same
/// arithmetic, writing channels-last where the Transpose was fused too. Only a MaxPool that keeps the size (stride 1,
/// undilated, padded by kernel − 1 in all on each axis) qualifies; every value between must have no other reader.</summary>
internal static class PeakFusion
{
    public const string Peaks = "MoeDetect.Peaks";
    /// <summary>Attribute of <see cref="Peaks"/>: 1 where the output is NHWC.</summary>
    public const string ChannelsLast = "channels_last";

    public static void Apply(OnnxGraph graph)
    {
        foreach (var pool in graph.Nodes.Where(n => n.OpType == "MaxPool" && n.Outputs.Count == 1 && KeepsSize(n)).ToList())
        {
            var readers = graph.ReaderCounts();
            string x = pool.Inputs[0];
            if (GraphFusion.SoleReader(graph, readers, pool.Outputs[0]) is not { OpType: "Equal" } equal || !Reads(equal, x, pool.Outputs[0])) continue;
            var mask = equal;
            var next = GraphFusion.SoleReader(graph, readers, equal.Outputs[0]);
            // Cast to FLOAT (1): the mask as 1 and 0.
            if (next is { OpType: "Cast" } cast && cast.Int("to", 0) == 1) (mask, next) = (cast, GraphFusion.SoleReader(graph, readers, cast.Outputs[0]));
            if (next is not { OpType: "Mul" } mul || !Reads(mul, x, mask.Outputs[0])) continue;
            var transpose = GraphFusion.SoleReader(graph, readers, mul.Outputs[0]);
            bool channelsLast = transpose is { OpType: "Transpose" } && transpose.Ints("perm") is [0, 2, 3, 1];
            var last = channelsLast ? transpose! : mul;
            var attributes = new Dictionary<string, AttributeProto>(pool.Attributes) { [ChannelsLast] = OnnxProtos.IntAttribute(ChannelsLast, channelsLast ? 1 : 0) };
            graph.Nodes[graph.Nodes.IndexOf(last)] = new GraphNode(Peaks, mul.Name, [x], [last.Outputs[0]], attributes);
            foreach (var replaced in new[] { pool, equal, mask, mul }.Distinct().Where(n => n != last)) graph.Nodes.Remove(replaced);
        }
    }

    private static bool Reads(GraphNode node, string a, string b) =>
        node.Inputs.Count == 2 && (node.Inputs[0] == a && node.Inputs[1] == b || node.Inputs[0] == b && node.Inputs[1] == a);

    private static bool KeepsSize(GraphNode pool)
    {
        if (pool.Ints("kernel_shape") is not [var kh, var kw]) return false;
        if ((pool.Ints("strides") ?? [1, 1]).Any(s => s != 1) || (pool.Ints("dilations") ?? [1, 1]).Any(d => d != 1) || pool.Int("ceil_mode", 0) != 0) return false;
        return pool.Text("auto_pad", "NOTSET") switch
        {
            "SAME_UPPER" or "SAME_LOWER" => true,
            "NOTSET" => pool.Ints("pads") is [var top, var left, var bottom, var right] && top + bottom == kh - 1 && left + right == kw - 1,
            _ => false,
        };
    }
}
