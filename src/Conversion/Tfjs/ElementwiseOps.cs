using MoeDetect.Conversion.Onnx;
using Onnx;

namespace MoeDetect.Conversion.Tfjs;

/// <summary>Element-wise arithmetic, comparisons, activations, casts and reductions: layout-free, numpy broadcasting on both sides.</summary>
internal static class ElementwiseOps
{
    public static readonly Dictionary<string, OpTranslator> Translators = Build();

    private static Dictionary<string, OpTranslator> Build()
    {
        var t = new Dictionary<string, OpTranslator>();
        foreach (var (tf, onnx) in new[]
                 {
                     ("Add", "Add"), ("AddV2", "Add"), ("Sub", "Sub"), ("Mul", "Mul"), ("RealDiv", "Div"), ("Div", "Div"),
                     ("Maximum", "Max"), ("Minimum", "Min"), ("Pow", "Pow"), ("Equal", "Equal"), ("Greater", "Greater"),
                     ("GreaterEqual", "GreaterOrEqual"), ("Less", "Less"), ("LessEqual", "LessOrEqual"), ("LogicalAnd", "And"),
                     ("LogicalOr", "Or"),
                 })
            t[tf] = (n, s) => s.EmitAndBind(n, onnx, [s.Input(n, 0), s.Input(n, 1)]);
        foreach (var (tf, onnx) in new[]
                 {
                     ("Exp", "Exp"), ("Log", "Log"), ("Sqrt", "Sqrt"), ("Neg", "Neg"), ("Abs", "Abs"), ("Floor", "Floor"),
                     ("Ceil", "Ceil"), ("Round", "Round"), ("Reciprocal", "Reciprocal"), ("LogicalNot", "Not"), ("Identity", "Identity"),
                 })
            t[tf] = (n, s) => s.EmitAndBind(n, onnx, [s.Input(n, 0)]);
        foreach (var activation in Activations.Names)
            t[activation] = (n, s) => s.Bind(n, Activations.Apply(activation, n, s, s.Input(n, 0), n.Float("alpha", 0.2f),
                activation == "Prelu" ? s.Input(n, 1) : null));

        t["BiasAdd"] = BiasAdd;
        t["NotEqual"] = (n, s) => s.EmitAndBind(n, "Not", [s.Onnx.Node("Equal", [s.Input(n, 0), s.Input(n, 1)], $"{n.Name}/equal")]);
        t["SquaredDifference"] = (n, s) =>
        {
            var d = s.Onnx.Node("Sub", [s.Input(n, 0), s.Input(n, 1)], $"{n.Name}/diff");
            s.EmitAndBind(n, "Mul", [d, d]);
        };
        t["Square"] = (n, s) => s.EmitAndBind(n, "Mul", [s.Input(n, 0), s.Input(n, 0)]);
        t["Rsqrt"] = (n, s) => s.EmitAndBind(n, "Reciprocal", [s.Onnx.Node("Sqrt", [s.Input(n, 0)], $"{n.Name}/sqrt")]);
        t["Softmax"] = (n, s) => s.EmitAndBind(n, "Softmax", [s.Input(n, 0)], Attr.Int("axis", -1));
        t["FloorDiv"] = FloorDiv;
        t["FloorMod"] = FloorMod;
        t["Cast"] = (n, s) => s.EmitAndBind(n, "Cast", [s.Input(n, 0)], Attr.Int("to", (int)OnnxType(n, "DstT")));
        foreach (var (tf, onnx) in new[] { ("Mean", "ReduceMean"), ("Max", "ReduceMax"), ("Min", "ReduceMin"), ("Prod", "ReduceProd") })
            t[tf] = (n, s) => s.EmitAndBind(n, onnx, [s.Input(n, 0)],
                Attr.Ints("axes", s.RequireConstant(n, 1, "reduction axes").AsLongs()), Attr.Int("keepdims", n.Bool("keep_dims", false) ? 1 : 0));
        // ReduceSum takes its axes as an input from opset 13 on.
        t["Sum"] = (n, s) => s.EmitAndBind(n, "ReduceSum", [s.Input(n, 0), s.Int64s(n, "axes", s.RequireConstant(n, 1, "reduction axes").AsLongs())],
            Attr.Int("keepdims", n.Bool("keep_dims", false) ? 1 : 0));
        return t;
    }

    /// <summary>The ONNX element type for a TF DT_* type attribute.</summary>
    public static TensorProto.Types.DataType OnnxType(TfjsNode node, string key) => node.Type(key) switch
    {
        "DT_FLOAT" => TensorProto.Types.DataType.Float,
        "DT_INT32" => TensorProto.Types.DataType.Int32,
        "DT_INT64" => TensorProto.Types.DataType.Int64,
        "DT_BOOL" => TensorProto.Types.DataType.Bool,
        "DT_UINT8" => TensorProto.Types.DataType.Uint8,
        "DT_HALF" => TensorProto.Types.DataType.Float16,
        var other => throw new ModelConversionException($"{node}: type attribute {key}={other ?? "(missing)"} is not supported."),
    };

    private static bool IsInteger(TfjsNode node) => node.Type("T") is "DT_INT32" or "DT_INT64";

    private static void BiasAdd(TfjsNode node, TranslationScope s)
    {
        if ((node.String("data_format") ?? "NHWC") != "NHWC")
            throw new ModelConversionException($"{node}: BiasAdd with data_format NCHW is not supported.");
        s.EmitAndBind(node, "Add", [s.Input(node, 0), s.Input(node, 1)]); // the bias runs along the last axis, as broadcasting does
    }

    /// <summary>TF FloorDiv rounds toward −∞; ONNX integer Div truncates, so integers divide in double (exact for int32) and floor.</summary>
    private static void FloorDiv(TfjsNode node, TranslationScope s)
    {
        var g = s.Onnx;
        if (!IsInteger(node))
        {
            s.EmitAndBind(node, "Floor", [g.Node("Div", [s.Input(node, 0), s.Input(node, 1)], $"{node.Name}/div")]);
            return;
        }
        var type = OnnxType(node, "T");
        var a = g.Node("Cast", [s.Input(node, 0)], $"{node.Name}/a", Attr.Int("to", (int)TensorProto.Types.DataType.Double));
        var b = g.Node("Cast", [s.Input(node, 1)], $"{node.Name}/b", Attr.Int("to", (int)TensorProto.Types.DataType.Double));
        var floored = g.Node("Floor", [g.Node("Div", [a, b], $"{node.Name}/div")], $"{node.Name}/floor");
        s.EmitAndBind(node, "Cast", [floored], Attr.Int("to", (int)type));
    }

    /// <summary>TF FloorMod takes the divisor's sign: ONNX integer Mod (fmod=0) does; floats use x − floor(x/y)·y.</summary>
    private static void FloorMod(TfjsNode node, TranslationScope s)
    {
        if (IsInteger(node))
        {
            s.EmitAndBind(node, "Mod", [s.Input(node, 0), s.Input(node, 1)], Attr.Int("fmod", 0));
            return;
        }
        var g = s.Onnx;
        var (x, y) = (s.Input(node, 0), s.Input(node, 1));
        var q = g.Node("Floor", [g.Node("Div", [x, y], $"{node.Name}/div")], $"{node.Name}/floor");
        s.EmitAndBind(node, "Sub", [x, g.Node("Mul", [q, y], $"{node.Name}/mul")]);
    }
}
