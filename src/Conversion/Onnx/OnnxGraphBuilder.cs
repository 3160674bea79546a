using Google.Protobuf;
using Onnx;

namespace MoeDetect.Conversion.Onnx;

/// <summary>Appends nodes and initializers to an ONNX graph under unique value names.</summary>
internal sealed class OnnxGraphBuilder
{
    private readonly HashSet<string> _names = [];

    public GraphProto Graph { get; } = new() { Name = "main" };

    /// <summary>A value name not used yet, derived from <paramref name="hint"/>.</summary>
    public string UniqueName(string hint)
    {
        if (_names.Add(hint))
            return hint;
        for (var i = 1; ; i++)
            if (_names.Add($"{hint}_{i}"))
                return $"{hint}_{i}";
    }

    /// <summary>Reserves a name that must stay exactly as given (graph inputs and outputs).</summary>
    public string ExactName(string name) =>
        _names.Add(name) ? name : throw new ModelConversionException($"ONNX value name '{name}' is used twice; choose another input/output name.");

    public string[] Node(string op, IEnumerable<string> inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = outputs[0] };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return outputs;
    }

    public string Node(string op, IEnumerable<string> inputs, string hint, params AttributeProto[] attributes) =>
        Node(op, inputs, [UniqueName(hint)], attributes)[0];

    public string Floats(string hint, float[] values, IEnumerable<long> dims) =>
        Initializer(hint, TensorProto.Types.DataType.Float, dims, values.Length * 4, b => Buffer.BlockCopy(values, 0, b, 0, b.Length));

    public string Int32s(string hint, int[] values, IEnumerable<long> dims) =>
        Initializer(hint, TensorProto.Types.DataType.Int32, dims, values.Length * 4, b => Buffer.BlockCopy(values, 0, b, 0, b.Length));

    public string Int64s(string hint, long[] values, IEnumerable<long>? dims = null) =>
        Initializer(hint, TensorProto.Types.DataType.Int64, dims ?? [values.Length], values.Length * 8,
            b => Buffer.BlockCopy(values, 0, b, 0, b.Length));

    public string Bools(string hint, int[] values, IEnumerable<long> dims) =>
        Initializer(hint, TensorProto.Types.DataType.Bool, dims, values.Length, b =>
        {
            for (var i = 0; i < values.Length; i++)
                b[i] = values[i] != 0 ? (byte)1 : (byte)0;
        });

    private string Initializer(string hint, TensorProto.Types.DataType type, IEnumerable<long> dims, int byteCount, Action<byte[]> fill)
    {
        // Raw data is little-endian in ONNX, as is every machine this runs on.
        var bytes = new byte[byteCount];
        fill(bytes);
        var tensor = new TensorProto { Name = UniqueName(hint), DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        Graph.Initializer.Add(tensor);
        return tensor.Name;
    }
}

/// <summary>Short constructors for ONNX node attributes.</summary>
internal static class Attr
{
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }
}
