using MoeDetect.Conversion.Onnx;
using Onnx;

namespace MoeDetect.Conversion.Tfjs;

/// <summary>
/// What the op translators share: the ONNX graph being written, the TF tensor → ONNX value map, and the constants
/// (weights and folded shape arithmetic) whose values steer translation.
/// </summary>
internal sealed class TranslationScope(OnnxGraphBuilder onnx, Dictionary<string, TfjsTensor> constants)
{
    private readonly Dictionary<string, string> _values = [];
    private string? _graphInput, _batch;

    public OnnxGraphBuilder Onnx { get; } = onnx;

    /// <summary>The TF tensor "node" / "node:k" as a canonical key ("node:0" ≡ "node").</summary>
    public static string Key(string tfRef) => tfRef.EndsWith(":0", StringComparison.Ordinal) ? tfRef[..^2] : tfRef;

    public static string NodeName(string tfRef)
    {
        var colon = tfRef.LastIndexOf(':');
        return colon > 0 && int.TryParse(tfRef[(colon + 1)..], out _) ? tfRef[..colon] : tfRef;
    }

    public TfjsTensor? Constant(string tfRef) => constants.GetValueOrDefault(Key(tfRef));

    public void SetConstant(string nodeName, TfjsTensor value) => constants[nodeName] = value;

    /// <summary>Input <paramref name="index"/> of <paramref name="node"/>, which must be a constant known at conversion time.</summary>
    public TfjsTensor RequireConstant(TfjsNode node, int index, string role)
    {
        if (index >= node.Inputs.Count)
            throw new ModelConversionException($"{node} has {node.Inputs.Count} inputs; its {role} (input {index}) is missing.");
        return Constant(node.Inputs[index])
            ?? throw new ModelConversionException(
                $"{node}: its {role} ('{node.Inputs[index]}') is computed at run time; the converter supports only a constant {role} here.");
    }

    /// <summary>The ONNX value of input <paramref name="index"/> of <paramref name="node"/>.</summary>
    public string Input(TfjsNode node, int index)
    {
        if (index >= node.Inputs.Count)
            throw new ModelConversionException($"{node} has {node.Inputs.Count} inputs; input {index} is missing.");
        return Value(node.Inputs[index]);
    }

    /// <summary>The ONNX value of a TF tensor; constants become initializers on first use.</summary>
    public string Value(string tfRef)
    {
        var key = Key(tfRef);
        if (_values.TryGetValue(key, out var name))
            return name;
        var constant = Constant(key)
            ?? throw new ModelConversionException($"TF tensor '{tfRef}' is used before any node produces it.");
        var dims = constant.Shape.Select(d => (long)d);
        name = constant.DType switch
        {
            TfjsDType.Float32 => Onnx.Floats(key, constant.Floats!, dims),
            TfjsDType.Int32 => Onnx.Int32s(key, constant.Ints!, dims),
            _ => Onnx.Bools(key, constant.Ints!, dims),
        };
        _values[key] = name;
        return name;
    }

    /// <summary>Records the ONNX values that stand for the outputs 0, 1, … of a TF node.</summary>
    public void Bind(TfjsNode node, params string[] onnxValues)
    {
        for (var k = 0; k < onnxValues.Length; k++)
            _values[k == 0 ? node.Name : $"{node.Name}:{k}"] = onnxValues[k];
    }

    public void BindName(string tfRef, string onnxValue) => _values[Key(tfRef)] = onnxValue;

    /// <summary>The graph input whose first dimension is the batch; set when the first Placeholder is bound.</summary>
    public void SetGraphInput(string onnxValue) => _graphInput ??= onnxValue;

    /// <summary>The batch size at run time as an int64 [1] (dim 0 of the graph input), computed once.</summary>
    public string Batch()
    {
        if (_graphInput is null)
            throw new ModelConversionException("the graph has no Placeholder input, so its batch size is unknown.");
        return _batch ??= Onnx.Node("Shape", [_graphInput], "moedetect/batch", Attr.Int("start", 0), Attr.Int("end", 1));
    }

    /// <summary>A constant shape whose leading 1 is the batch of a TF graph fixed at batch 1, as [batch, rest…].</summary>
    public string BatchShape(TfjsNode node, long[] rest) =>
        Onnx.Node("Concat", [Batch(), Int64s(node, "rest", rest)], $"{node.Name}/shape", Attr.Int("axis", 0));

    public string Int64s(TfjsNode node, string suffix, long[] values) => Onnx.Int64s($"{node.Name}/{suffix}", values);

    /// <summary>Emits the node that stands for the TF node's only output and binds it.</summary>
    public void EmitAndBind(TfjsNode node, string op, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Bind(node, Onnx.Node(op, inputs, node.Name, attributes));

    public string ToNchw(string value, string hint) => Onnx.Node("Transpose", [value], $"{hint}/to_nchw", Attr.Ints("perm", [0, 3, 1, 2]));

    public string ToNhwc(string value, string hint) => Onnx.Node("Transpose", [value], $"{hint}/to_nhwc", Attr.Ints("perm", [0, 2, 3, 1]));
}
