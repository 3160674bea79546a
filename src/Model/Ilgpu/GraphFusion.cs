using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Load-time rewrites that save whole passes over memory: BatchNormalization folded into the preceding
/// Conv's weights, and the activation that follows a Conv (Relu, Clip, Sigmoid, LeakyRelu, HardSigmoid, HardSwish,
/// and SiLU written as x·sigmoid(x)) computed inside the convolution kernel.</summary>
internal static class GraphFusion
{
    public static void Apply(OnnxGraph graph)
    {
        FoldBatchNorms(graph);
        SinkActivationsBelowTransposes(graph);
        CancelTransposePairs(graph);
        FuseActivations(graph);
    }

    /// <summary>Graphs converted from TensorFlow wrap every NCHW Conv in NHWC transposes, with the activation in
    /// between: Conv → T(nhwc) → Relu → T(nchw). A pointwise activation commutes with a transpose, so it is moved
    /// above it; the two transposes then meet and cancel, and the activation fuses into the Conv.</summary>
    private static void SinkActivationsBelowTransposes(OnnxGraph graph)
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            var readers = graph.ReaderCounts();
            foreach (var act in graph.Nodes.Where(n => ActivationOf(graph, n) is not null).ToList())
            {
                var transpose = SoleProducer(graph, readers, act.Inputs[0], "Transpose");
                if (transpose is null) continue;
                string x = transpose.Inputs[0], output = act.Outputs[0], moved = output + "/before_transpose";
                act.Inputs[0] = x;
                act.Outputs[0] = moved;
                transpose.Inputs[0] = moved;
                transpose.Outputs[0] = output;
                graph.Nodes.Remove(act);
                graph.Nodes.Insert(graph.Nodes.IndexOf(transpose), act);
                changed = true;
                break;
            }
        }
    }

    /// <summary>Transpose(p2) of Transpose(p1) with p1∘p2 = identity reads the original tensor instead; transposes
    /// left without readers are removed.</summary>
    private static void CancelTransposePairs(OnnxGraph graph)
    {
        var producers = new Dictionary<string, GraphNode>();
        foreach (var n in graph.Nodes) foreach (var o in n.Outputs) producers[o] = n;
        foreach (var second in graph.Nodes.Where(n => n.OpType == "Transpose").ToList())
        {
            if (graph.OutputNames.Contains(second.Outputs[0])) continue;
            if (!producers.TryGetValue(second.Inputs[0], out var first) || first.OpType != "Transpose") continue;
            long[]? p1 = first.Ints("perm"), p2 = second.Ints("perm");
            if (p1 is null || p2 is null || p1.Length != p2.Length || Enumerable.Range(0, p2.Length).Any(i => p1[p2[i]] != i)) continue;
            foreach (var reader in graph.Nodes)
                for (int i = 0; i < reader.Inputs.Count; i++)
                    if (reader.Inputs[i] == second.Outputs[0]) reader.Inputs[i] = first.Inputs[0];
            graph.Nodes.Remove(second);
        }
        RemoveUnread(graph);
    }

    private static void RemoveUnread(OnnxGraph graph)
    {
        var readers = graph.ReaderCounts();
        int removed;
        do
        {
            removed = graph.Nodes.RemoveAll(n => n.Outputs.All(o => readers.GetValueOrDefault(o) == 0));
            readers = graph.ReaderCounts();
        } while (removed > 0);
    }

    private static void FoldBatchNorms(OnnxGraph graph)
    {
        var readers = graph.ReaderCounts();
        foreach (var bn in graph.Nodes.Where(n => n.OpType == "BatchNormalization").ToList())
        {
            var conv = SoleProducer(graph, readers, bn.Inputs[0], "Conv");
            if (conv is null || !graph.Constants.TryGetValue(conv.Inputs[1], out var w)) continue;
            if (!bn.Inputs.Skip(1).Take(4).All(graph.Constants.ContainsKey)) continue;
            var (scale, shift) = BatchNormAffine(graph, bn);
            int outChannels = w.Shape[0], perChannel = w.Data.Length / outChannels;
            var folded = new double[w.Data.Length];
            for (int i = 0; i < folded.Length; i++) folded[i] = w.Data[i] * scale[i / perChannel];
            var bias = conv.Input(2) is { } b ? graph.Constants[b].Data : new double[outChannels];
            var foldedBias = Enumerable.Range(0, outChannels).Select(c => bias[c] * scale[c] + shift[c]).ToArray();
            graph.Constants[conv.Name + "/bn_weight"] = w with { Data = folded };
            graph.Constants[conv.Name + "/bn_bias"] = new HostTensor(foldedBias, [outChannels], false);
            conv.Inputs[1] = conv.Name + "/bn_weight";
            if (conv.Inputs.Count > 2) conv.Inputs[2] = conv.Name + "/bn_bias"; else conv.Inputs.Add(conv.Name + "/bn_bias");
            Bypass(graph, bn, conv);
        }
    }

    /// <summary>y = scale·x + shift per channel for an inference-mode BatchNormalization with constant statistics.</summary>
    public static (double[] Scale, double[] Shift) BatchNormAffine(OnnxGraph graph, GraphNode bn)
    {
        double epsilon = bn.Float("epsilon", 1e-5f);
        var gamma = graph.Constants[bn.Inputs[1]].Data; var beta = graph.Constants[bn.Inputs[2]].Data;
        var mean = graph.Constants[bn.Inputs[3]].Data; var variance = graph.Constants[bn.Inputs[4]].Data;
        var scale = gamma.Select((g, c) => g / Math.Sqrt(variance[c] + epsilon)).ToArray();
        return (scale, beta.Select((b, c) => b - mean[c] * scale[c]).ToArray());
    }

    private static void FuseActivations(OnnxGraph graph)
    {
        foreach (var act in graph.Nodes.ToList())
        {
            var readers = graph.ReaderCounts();
            string input = act.Inputs.FirstOrDefault() ?? "";
            var producer = graph.Nodes.FirstOrDefault(n => n.OpType == "Conv" && n.Outputs[0] == input && n.Fused.Function == UnaryFunction.Identity);
            if (producer is null || graph.OutputNames.Contains(input)) continue;
            if (act.OpType == "Sigmoid" && TrySilu(graph, readers, producer, act)) continue;
            var conv = SoleProducer(graph, readers, input, "Conv");
            if (conv is null) continue;
            var fused = ActivationOf(graph, act);
            if (fused is null) continue;
            conv.Fused = fused.Value;
            Bypass(graph, act, conv);
        }
    }

    /// <summary>conv → Sigmoid → Mul(conv, sigmoid): the Mul's output becomes the conv's, computing v·σ(v).</summary>
    private static bool TrySilu(OnnxGraph graph, Dictionary<string, int> readers, GraphNode conv, GraphNode sigmoid)
    {
        string y = conv.Outputs[0], s = sigmoid.Outputs[0];
        if (readers.GetValueOrDefault(y) != 2 || readers.GetValueOrDefault(s) != 1) return false;
        var mul = graph.Nodes.FirstOrDefault(n => n.OpType == "Mul" && n.Inputs.Contains(y) && n.Inputs.Contains(s));
        if (mul is null) return false;
        conv.Fused = new Activation(UnaryFunction.Silu);
        graph.Nodes.Remove(sigmoid);
        Bypass(graph, mul, conv);
        return true;
    }

    /// <summary>The activation a node computes, if it is one that can be fused (Clip needs constant bounds).</summary>
    public static Activation? ActivationOf(OnnxGraph graph, GraphNode node) => node.OpType switch
    {
        "Relu" => new Activation(UnaryFunction.Relu),
        "Sigmoid" => new Activation(UnaryFunction.Sigmoid),
        "LeakyRelu" => new Activation(UnaryFunction.LeakyRelu, node.Float("alpha", 0.01f)),
        "HardSigmoid" => new Activation(UnaryFunction.HardSigmoid, node.Float("alpha", 0.2f), node.Float("beta", 0.5f)),
        "HardSwish" => new Activation(UnaryFunction.HardSwish),
        "Clip" => ClipBounds(graph, node) is var (lo, hi) ? new Activation(UnaryFunction.Clip, lo, hi) : null,
        _ => null,
    };

    public static (float Min, float Max)? ClipBounds(OnnxGraph graph, GraphNode clip)
    {
        if (graph.Opset < 11) return (clip.Float("min", float.MinValue), clip.Float("max", float.MaxValue));
        float Bound(int input, float fallback)
        {
            if (clip.Input(input) is not { } name) return fallback;
            return graph.Constants.TryGetValue(name, out var t) ? (float)t.Data[0] : float.NaN;
        }
        float lo = Bound(1, float.MinValue), hi = Bound(2, float.MaxValue);
        return float.IsNaN(lo) || float.IsNaN(hi) ? null : (lo, hi);
    }

    private static GraphNode? SoleProducer(OnnxGraph graph, Dictionary<string, int> readers, string value, string opType)
    {
        if (readers.GetValueOrDefault(value) != 1 || graph.OutputNames.Contains(value)) return null;
        return graph.Nodes.FirstOrDefault(n => n.OpType == opType && n.Outputs.Count == 1 && n.Outputs[0] == value);
    }

    /// <summary>Removes <paramref name="node"/>; <paramref name="producer"/> now writes the removed node's output.</summary>
    private static void Bypass(OnnxGraph graph, GraphNode node, GraphNode producer)
    {
        producer.Outputs[0] = node.Outputs[0];
        graph.Nodes.Remove(node);
    }
}
