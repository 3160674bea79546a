using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Load-time rewrites that save whole passes over memory: BatchNormalization folded into the preceding
/// Conv's weights, TensorFlow's NHWC transposes sunk and cancelled (<see cref="TransposeSinking"/>), explicit Pads
/// and bias Adds folded into the Conv / MaxPool they feed, and the activation that follows a Conv (Relu, Clip,
/// Sigmoid, LeakyRelu, HardSigmoid, HardSwish, SiLU written as x·sigmoid(x), TensorFlow's arithmetic hard-swish and
/// hard-sigmoid, see <see cref="HardActivations"/>), a residual Add after a pointwise Conv and a squeeze-excite scale
/// before one computed inside the convolution kernel, CenterNet's peak test as one node (<see cref="PeakFusion"/>),
/// YOLOv8's head decode as one node (<see cref="DistanceBoxFusion"/>), and
/// a mean followed by two 1×1 layers (squeeze-excite gates, MoE routers) as one node (<see cref="SqueezeFusion"/>),
/// and TensorFlow's bilinear ×2 written out in slices and arithmetic as one Resize (<see cref="UpsampleFusion"/>), and a
/// Floor after a Div inside the Div (<see cref="FuseFloorDivisions"/>); first, work an exporter repeated is done once
/// (<see cref="CommonSubexpressions"/>).</summary>
internal static class GraphFusion
{
    public static void Apply(OnnxGraph graph)
    {
        CommonSubexpressions.Apply(graph);
        FoldBatchNorms(graph);
        // Before the transposes move: it matches the export's Transpose before the DFL's Softmax.
        DistanceBoxFusion.Apply(graph);
        TransposeSinking.Apply(graph);
        // Before unread nodes go: it leaves the shape arithmetic of the slices it replaces unread.
        UpsampleFusion.Apply(graph);
        RemoveUnread(graph);
        PeakFusion.Apply(graph);
        FoldPadsIntoWindows(graph);
        // Before bias folding, which would take the hard activations' "+ 3" into the convolution's bias.
        HardActivations.Apply(graph);
        FoldBiasAdds(graph);
        FuseActivations(graph);
        SqueezeFusion.Apply(graph);
        FuseResidualAdds(graph);
        // After the residuals, which take the Conv's input 3.
        FuseInputScales(graph);
        FuseFloorDivisions(graph);
    }

    /// <summary>Attribute of a Div that also floors its quotient (<see cref="FuseFloorDivisions"/>).</summary>
    public const string FloorAttribute = "moedetect_floor";

    /// <summary>A Div whose only reader is a Floor (CenterNet's decoder: index ÷ width, then Floor) becomes one node, the
    /// Div with <see cref="FloorAttribute"/> writing the Floor's output: one launch instead of two, same arithmetic.</summary>
    private static void FuseFloorDivisions(OnnxGraph graph)
    {
        var readers = graph.ReaderCounts();
        foreach (var div in graph.Nodes.Where(n => n.OpType == "Div" && n.Outputs.Count == 1).ToList())
        {
            if (SoleReader(graph, readers, div.Outputs[0]) is not { OpType: "Floor" } floor) continue;
            var attributes = new Dictionary<string, AttributeProto>(div.Attributes) { [FloorAttribute] = OnnxProtos.IntAttribute(FloorAttribute, 1) };
            graph.Nodes[graph.Nodes.IndexOf(div)] = new GraphNode("Div", div.Name, div.Inputs, [floor.Outputs[0]], attributes);
            graph.Nodes.Remove(floor);
        }
    }

    /// <summary>Add(conv, residual) after an ungrouped Conv (MobileNet's projection before the skip connection, the 3×3
    /// Conv ending a YOLO bottleneck) is done in the GEMM's epilogue: the residual becomes the Conv's fourth input (after
    /// an activation fused before it). The Conv takes the Add's place in the order, where the residual has been computed.
    /// Where the plan finds the shapes differ (a broadcasting Add) or runs the Conv on a kernel other than the GEMMs,
    /// the compiler adds separately.</summary>
    private static void FuseResidualAdds(OnnxGraph graph)
    {
        foreach (var add in graph.Nodes.Where(n => n.OpType == "Add" && n.Inputs.Count == 2).ToList())
        {
            var readers = graph.ReaderCounts();
            for (int side = 0; side < 2; side++)
            {
                var conv = SoleProducer(graph, readers, add.Inputs[side], "Conv");
                string residual = add.Inputs[1 - side];
                if (conv is null || !IsUngrouped(graph, conv) || conv.Input(3) is not null || graph.Constants.ContainsKey(residual) || residual == add.Inputs[side]) continue;
                while (conv.Inputs.Count < 3) conv.Inputs.Add("");
                conv.Inputs.Add(residual);
                graph.Nodes.Remove(conv);
                graph.Nodes.Insert(graph.Nodes.IndexOf(add), conv);
                Bypass(graph, add, conv);
                break;
            }
        }
    }

    /// <summary>Mul(a, b) of two computed values read only by Convs as their data (MobileNetV3's squeeze-excite gate
    /// before the projection; CenterNet's head gate before its two depthwise output branches) is done inside each of
    /// them: a Conv reads a as input 0 and b as input 4 (inputs 2 and 3 kept, "" where absent), and the gated tensor is
    /// never written. The plan decides which operand is the per-channel scale; where neither is, or where the Conv's
    /// kernel applies none (only the pointwise and depthwise ones do), it multiplies once, separately, first.</summary>
    private static void FuseInputScales(OnnxGraph graph)
    {
        foreach (var mul in graph.Nodes.Where(n => n.OpType == "Mul" && n.Inputs.Count == 2 && n.Outputs.Count == 1).ToList())
        {
            var readers = graph.ReaderCounts();
            string product = mul.Outputs[0];
            if (mul.Inputs.Any(graph.Constants.ContainsKey) || graph.OutputNames.Contains(product)) continue;
            var convs = graph.Nodes.Where(n => n.Inputs.Contains(product)).ToList();
            bool allScaleable = convs.Count > 0 && convs.Count == readers.GetValueOrDefault(product) && convs.All(conv =>
                conv.OpType == "Conv" && conv.Inputs[0] == product && conv.Inputs.Count(i => i == product) == 1 && conv.Inputs.Count <= 4);
            if (!allScaleable) continue;
            foreach (var conv in convs)
            {
                while (conv.Inputs.Count < 4) conv.Inputs.Add("");
                conv.Inputs[0] = mul.Inputs[0];
                conv.Inputs.Add(mul.Inputs[1]);
            }
            graph.Nodes.Remove(mul);
        }
    }

    /// <summary>A Conv with constant 4-D weights and one group: the GEMMs can run it (the plan decides whether they do).</summary>
    private static bool IsUngrouped(OnnxGraph graph, GraphNode conv) =>
        graph.Constants.TryGetValue(conv.Inputs[1], out var w) && w.Shape.Length == 4 && conv.Int("group", 1) == 1;

    /// <summary>A Pad of the spatial axes in front of a Conv (zeros) or MaxPool (−∞), as TensorFlow writes explicit
    /// padding before a VALID window, becomes the window's own padding.</summary>
    private static void FoldPadsIntoWindows(OnnxGraph graph)
    {
        var readers = graph.ReaderCounts();
        foreach (var pad in graph.Nodes.Where(n => n.OpType == "Pad").ToList())
        {
            if (pad.Text("mode", "constant") != "constant" || pad.Input(3) is not null) continue;
            var pads = graph.IntsOf(pad, "pads", 1);
            if (pads is not { Length: 8 }) continue;
            if (readers.GetValueOrDefault(pad.Outputs[0]) != 1 || graph.OutputNames.Contains(pad.Outputs[0])) continue;
            var window = graph.Nodes.FirstOrDefault(n => n.Inputs.Count > 0 && n.Inputs[0] == pad.Outputs[0]);
            float? fill = pad.Input(2) is not { } v ? pad.Float("value", 0)
                : graph.Constants.TryGetValue(v, out var f) && f.Data.Length == 1 ? (float)f.Data[0] : null;
            bool fits = window?.OpType switch
            {
                "Conv" => fill == 0,
                "MaxPool" => fill == float.NegativeInfinity && window.Outputs.Count == 1,
                _ => false,
            };
            if (!fits || window!.Text("auto_pad", "NOTSET") is not ("NOTSET" or "VALID")) continue;
            if (PadFolding.WindowPadding(pads, window.Ints("pads")) is not { } merged) continue;
            window.Attributes = new Dictionary<string, AttributeProto>(window.Attributes)
            {
                ["auto_pad"] = OnnxProtos.StringAttribute("auto_pad", "NOTSET"),
                ["pads"] = OnnxProtos.IntsAttribute("pads", merged),
            };
            window.Inputs[0] = pad.Inputs[0];
            graph.Nodes.Remove(pad);
        }
    }

    /// <summary>Add of a per-output-channel constant (TensorFlow's BiasAdd after a bias-free Conv) goes into the
    /// convolution's bias.</summary>
    private static void FoldBiasAdds(OnnxGraph graph)
    {
        foreach (var add in graph.Nodes.Where(n => n.OpType == "Add" && n.Inputs.Count == 2).ToList())
        {
            var readers = graph.ReaderCounts();
            int constantAt = graph.Constants.ContainsKey(add.Inputs[1]) ? 1 : graph.Constants.ContainsKey(add.Inputs[0]) ? 0 : -1;
            if (constantAt < 0) continue;
            var conv = SoleProducer(graph, readers, add.Inputs[1 - constantAt], "Conv");
            if (conv is null || conv.Fused.Function != UnaryFunction.Identity || !graph.Constants.TryGetValue(conv.Inputs[1], out var w)) continue;
            var c = graph.Constants[add.Inputs[constantAt]];
            int channels = w.Shape[0];
            int[] shape = [.. Enumerable.Repeat(1, Math.Max(0, 4 - c.Shape.Length)), .. c.Shape];
            bool perChannel = c.Shape.Length <= 4 && shape[0] == 1 && shape[2] == 1 && shape[3] == 1 && (shape[1] == channels || shape[1] == 1);
            if (!perChannel) continue;
            var bias = conv.Input(2) is { } b ? graph.Constants[b].Data : new double[channels];
            var summed = Enumerable.Range(0, channels).Select(k => (double)((float)bias[k] + (float)c.Data[c.Data.Length == 1 ? 0 : k])).ToArray();
            graph.Constants[conv.Name + "/bias_add"] = new HostTensor(summed, [channels], false);
            if (conv.Inputs.Count > 2) conv.Inputs[2] = conv.Name + "/bias_add"; else conv.Inputs.Add(conv.Name + "/bias_add");
            Bypass(graph, add, conv);
        }
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

    /// <summary>The activation after a Conv is computed in its kernel's epilogue, the one after a Concat as its copies
    /// write (the CenterNet head's Relu of each upsampled concatenation: one pass over the tensor fewer).</summary>
    private static void FuseActivations(OnnxGraph graph)
    {
        foreach (var act in graph.Nodes.ToList())
        {
            var readers = graph.ReaderCounts();
            string input = act.Inputs.FirstOrDefault() ?? "";
            var producer = graph.Nodes.FirstOrDefault(n => n.OpType is "Conv" or "Concat" && n.Outputs.Count == 1 && n.Outputs[0] == input
                && n.Fused.Function == UnaryFunction.Identity);
            if (producer is null || graph.OutputNames.Contains(input)) continue;
            if (act.OpType == "Sigmoid" && TrySilu(graph, readers, producer, act)) continue;
            if (readers.GetValueOrDefault(input) != 1) continue;
            var fused = ActivationOf(graph, act);
            if (fused is null) continue;
            producer.Fused = fused.Value;
            Bypass(graph, act, producer);
        }
    }

    /// <summary>producer → Sigmoid → Mul(producer, sigmoid): the Mul's output becomes the producer's, computing v·σ(v).</summary>
    private static bool TrySilu(OnnxGraph graph, Dictionary<string, int> readers, GraphNode producer, GraphNode sigmoid)
    {
        string y = producer.Outputs[0], s = sigmoid.Outputs[0];
        if (readers.GetValueOrDefault(y) != 2 || readers.GetValueOrDefault(s) != 1) return false;
        var mul = graph.Nodes.FirstOrDefault(n => n.OpType == "Mul" && n.Inputs.Contains(y) && n.Inputs.Contains(s));
        if (mul is null) return false;
        producer.Fused = new Activation(UnaryFunction.Silu);
        graph.Nodes.Remove(sigmoid);
        Bypass(graph, mul, producer);
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
        HardActivations.HardSwishRelu6 => new Activation(UnaryFunction.HardSwishRelu6, node.Float("alpha", 0)),
        HardActivations.HardSigmoidRelu6 => new Activation(UnaryFunction.HardSigmoidRelu6, node.Float("alpha", 0)),
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

    /// <summary>The one node that reads <paramref name="value"/>, if one does and it is no graph output.</summary>
    public static GraphNode? SoleReader(OnnxGraph graph, Dictionary<string, int> readers, string value) =>
        readers.GetValueOrDefault(value) == 1 && !graph.OutputNames.Contains(value)
            ? graph.Nodes.FirstOrDefault(n => n.Inputs.Contains(value))
            : null;

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
