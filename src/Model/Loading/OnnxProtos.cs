using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace MoeDetect.Model.Loading;

/// <summary>The small ONNX protobuf pieces the graph rewrites at load write (attributes, constant tensors, inputs and outputs), built one
/// way for all of them (pixel input, two-stage TopK, the MoE mixing graphs, the ILGPU layout rewrite).</summary>
internal static class OnnxProtos
{
    /// <summary>A node named after its first output unless <paramref name="name"/> says otherwise.</summary>
    public static NodeProto Node(string op, IEnumerable<string> inputs, IEnumerable<string> outputs, string? name = null,
        params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Name = name ?? node.Output[0];
        node.Attribute.AddRange(attributes);
        return node;
    }

    public static AttributeProto IntAttribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto StringAttribute(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto FloatAttribute(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto IntsAttribute(string name, IEnumerable<long> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    /// <summary>A graph input or output of <paramref name="type"/>: without a shape when <paramref name="dims"/> is null,
    /// else of those dimensions, those ≤ 0 left open (named "N": the batch, where the graph leaves it open).</summary>
    public static ValueInfoProto TensorValue(string name, TensorProto.Types.DataType type, long[]? dims = null)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)type };
        if (dims is not null)
        {
            tensor.Shape = new TensorShapeProto();
            foreach (long d in dims)
                tensor.Shape.Dim.Add(d > 0 ? new TensorShapeProto.Types.Dimension { DimValue = d } : new TensorShapeProto.Types.Dimension { DimParam = "N" });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }

    /// <summary>An int64 tensor's values, whether stored as int64_data or as raw bytes; null for another type.</summary>
    public static long[]? Int64Values(TensorProto tensor) =>
        tensor.DataType != (int)TensorProto.Types.DataType.Int64 ? null
        : tensor.Int64Data.Count > 0 ? tensor.Int64Data.ToArray() : MemoryMarshal.Cast<byte, long>(tensor.RawData.Span).ToArray();

    /// <summary>A float tensor's values, whether stored as float_data or as raw bytes; null for another type.</summary>
    public static float[]? FloatValues(TensorProto tensor) =>
        tensor.DataType != (int)TensorProto.Types.DataType.Float ? null
        : tensor.FloatData.Count > 0 ? tensor.FloatData.ToArray() : MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();

    /// <summary>Adds an int64 initializer (a vector unless <paramref name="dims"/> says otherwise) and returns its name.</summary>
    public static string AddInt64s(GraphProto graph, string name, long[] values, long[]? dims = null) =>
        Add(graph, name, TensorProto.Types.DataType.Int64, dims ?? [values.Length], t => t.Int64Data.AddRange(values));

    /// <summary>Adds a float initializer (a vector unless <paramref name="dims"/> says otherwise) and returns its name.</summary>
    public static string AddFloats(GraphProto graph, string name, float[] values, long[]? dims = null) =>
        Add(graph, name, TensorProto.Types.DataType.Float, dims ?? [values.Length], t => t.FloatData.AddRange(values));

    private static string Add(GraphProto graph, string name, TensorProto.Types.DataType type, long[] dims, Action<TensorProto> fill)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type };
        tensor.Dims.AddRange(dims);
        fill(tensor);
        graph.Initializer.Add(tensor);
        return name;
    }
}
