namespace MoeDetect.Model.Ilgpu;

/// <summary>The graph uses an operator the ILGPU engine cannot run; raised when the model is loaded, not mid-stream.</summary>
public sealed class UnsupportedOperatorException(string opType, string nodeName)
    : InvalidModelException($"the ILGPU engine does not support operator {opType} (node '{nodeName}'); run this model with --engine ort")
{
    public string OpType { get; } = opType;
    public string NodeName { get; } = nodeName;
}

/// <summary>The operators the ILGPU engine runs. Shape arithmetic (Shape, Range, ConstantOfShape …) is folded on the
/// host when the plan for a batch size is built; TopK runs on the host (see <see cref="OperatorCompiler"/>).</summary>
internal static class OperatorSupport
{
    public static readonly IReadOnlySet<string> Operators = new HashSet<string>
    {
        "Conv", "BatchNormalization", "Relu", "Clip", "Sigmoid", "LeakyRelu", "HardSigmoid", "HardSwish", "Tanh", "Exp",
        "Neg", "Sqrt", "Abs", "Floor", "Ceil", "Round", "Reciprocal", "Log", "PRelu",
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Equal", "Less", "Greater",
        "Concat", "Split", "Slice", "Resize", "Upsample", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
        "ReduceMean", "ReduceSum", "ReduceMax", "MatMul", "Gemm", "Softmax",
        "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Cast", "Expand",
        "Gather", "TopK", "Shape", "ConstantOfShape", "Range",
        "Pad", "Where", "GatherElements", "Not", "And", "Or", "Xor",
        // The engine's own, made by load-time rewrites.
        HardActivations.HardSwishRelu6, HardActivations.HardSigmoidRelu6, PeakFusion.Peaks, SqueezeFusion.SqueezeMlp, DistanceBoxFusion.Boxes,
    };

    public static void Check(OnnxGraph graph)
    {
        var unsupported = graph.Nodes.FirstOrDefault(n => !Operators.Contains(n.OpType));
        if (unsupported is not null) throw new UnsupportedOperatorException(unsupported.OpType, unsupported.Name);
        // Attribute variants the kernels lack are load-time errors too, not first-frame ones.
        var reflectingPad = graph.Nodes.FirstOrDefault(n => n.OpType == "Pad" && n.Text("mode", "constant") != "constant");
        if (reflectingPad is not null) throw new UnsupportedOperatorException($"Pad (mode {reflectingPad.Text("mode", "")})", reflectingPad.Name);
        var axesPad = graph.Nodes.FirstOrDefault(n => n.OpType == "Pad" && n.Input(3) is not null);
        if (axesPad is not null) throw new UnsupportedOperatorException("Pad (with an axes input)", axesPad.Name);
    }
}
