using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Ilgpu;

/// <summary>A spatial mean (GlobalAveragePool, or ReduceMean over H and W keeping them) read only by a 1×1 Conv, whose
/// output only a second 1×1 Conv reads: MobileNetV3's squeeze-excite gate before its sigmoid scale, and every MoE
/// router of the project's model files. Three latency-bound launches on vectors become one node of the engine's own
/// op type (<see cref="SqueezeKernel"/>) where the layers are small enough for one group to run
/// (<see cref="SqueezeKernel.MaxMultiplyAdds"/>): inputs x, W1, b1, W2, b2 ("" for a missing bias), the second Conv's output
/// and activation, the first's activation in attributes. Runs after the activations are fused into the Convs.</summary>
internal static class SqueezeFusion
{
    public const string SqueezeMlp = "MoeDetect.SqueezeMlp";
    private const string HiddenFunction = "hidden_function", HiddenAlpha = "hidden_alpha", HiddenBeta = "hidden_beta";

    public static void Apply(OnnxGraph graph)
    {
        foreach (var mean in graph.Nodes.Where(n => IsSpatialMean(graph, n)).ToList())
        {
            var readers = graph.ReaderCounts();
            if (GraphFusion.SoleReader(graph, readers, mean.Outputs[0]) is not { } first || !IsVectorLayer(graph, first, mean.Outputs[0])) continue;
            if (GraphFusion.SoleReader(graph, readers, first.Outputs[0]) is not { } second || !IsVectorLayer(graph, second, first.Outputs[0])) continue;
            int[] w1 = graph.Constants[first.Inputs[1]].Shape, w2 = graph.Constants[second.Inputs[1]].Shape;
            if (w1[1] > SqueezeKernel.MaxChannels || w1[0] > SqueezeKernel.MaxHidden || w2[1] != w1[0]
                || (long)w1[1] * w1[0] + (long)w2[1] * w2[0] > SqueezeKernel.MaxMultiplyAdds) continue;
            var hidden = first.Fused;
            var attributes = new Dictionary<string, AttributeProto>
            {
                [HiddenFunction] = OnnxProtos.IntAttribute(HiddenFunction, (long)hidden.Function),
                [HiddenAlpha] = OnnxProtos.FloatAttribute(HiddenAlpha, hidden.Alpha),
                [HiddenBeta] = OnnxProtos.FloatAttribute(HiddenBeta, hidden.Beta),
            };
            var fused = new GraphNode(SqueezeMlp, second.Name,
                [mean.Inputs[0], first.Inputs[1], first.Input(2) ?? "", second.Inputs[1], second.Input(2) ?? ""], [second.Outputs[0]], attributes)
            { Fused = second.Fused };
            graph.Nodes[graph.Nodes.IndexOf(second)] = fused;
            graph.Nodes.Remove(first);
            graph.Nodes.Remove(mean);
        }
    }

    /// <summary>The activation of the first layer, as <see cref="Apply"/> stored it.</summary>
    public static Activation HiddenActivation(GraphNode squeeze) =>
        new((UnaryFunction)squeeze.Int(HiddenFunction, 0), squeeze.Float(HiddenAlpha, 0), squeeze.Float(HiddenBeta, 0));

    private static bool IsSpatialMean(OnnxGraph graph, GraphNode node) => node.Outputs.Count == 1 && node.OpType switch
    {
        "GlobalAveragePool" => true,
        // A Conv reads 4-D tensors only, so the last two axes are H and W.
        "ReduceMean" => node.Int("keepdims", 1) == 1 && graph.IntsOf(node, "axes", 1) is [2, 3] or [-2, -1],
        _ => false,
    };

    /// <summary>A Conv that is a dense layer on a [N, C, 1, 1] vector: constant 1×1 weights, one group, no explicit
    /// padding (auto_pad SAME pads a 1×1 window on a 1×1 input by nothing), a constant bias if any, nothing fused into
    /// it but an activation.</summary>
    private static bool IsVectorLayer(OnnxGraph graph, GraphNode conv, string input) =>
        conv.OpType == "Conv" && conv.Outputs.Count == 1 && conv.Inputs.Count <= 3 && conv.Inputs[0] == input
        && graph.Constants.TryGetValue(conv.Inputs[1], out var w) && w.Shape is [_, _, 1, 1]
        && (conv.Input(2) is not { } bias || graph.Constants.ContainsKey(bias))
        && conv.Int("group", 1) == 1 && (conv.Ints("pads") ?? [0, 0, 0, 0]).All(p => p == 0);
}
