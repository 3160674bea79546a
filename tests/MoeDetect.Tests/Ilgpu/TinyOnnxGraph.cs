using Xunit;
using Google.Protobuf;
using Onnx;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Builds small ONNX graphs in tests with OnnxSharp's protobuf types: one float input with a free batch
/// dimension, constants, nodes, and float or int64 outputs.</summary>
internal sealed class TinyOnnxGraph(int opset = 13)
{
    private readonly GraphProto _graph = new() { Name = "test" };

    public TinyOnnxGraph Input(string name, params int[] itemShape)
    {
        _graph.Input.Add(ValueInfo(name, TensorProto.Types.DataType.Float, [-1, .. itemShape]));
        return this;
    }

    public TinyOnnxGraph Floats(string name, float[] data, params int[] shape)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(shape.Select(d => (long)d));
        t.FloatData.AddRange(data);
        _graph.Initializer.Add(t);
        return this;
    }

    public TinyOnnxGraph Random(string name, int seed, params int[] shape) =>
        Floats(name, RandomValues(seed, shape.Aggregate(1, (a, b) => a * b)), shape);

    public TinyOnnxGraph Longs(string name, params long[] data) => Int64(name, [data.Length], data);

    /// <summary>A 0-D int64 constant (PyTorch's Gather indices that drop the axis).</summary>
    public TinyOnnxGraph LongScalar(string name, long value) => Int64(name, [], [value]);

    private TinyOnnxGraph Int64(string name, long[] dims, long[] data)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(data);
        _graph.Initializer.Add(t);
        return this;
    }

    public TinyOnnxGraph Node(string op, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op.ToLowerInvariant()}_{_graph.Node.Count}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        foreach (var (key, value) in attributes) node.Attribute.Add(Attribute(key, value));
        _graph.Node.Add(node);
        return this;
    }

    public TinyOnnxGraph Output(string name, bool isLong = false)
    {
        _graph.Output.Add(ValueInfo(name, isLong ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Float, null));
        return this;
    }

    public byte[] Build()
    {
        var model = new ModelProto { IrVersion = 8, Graph = _graph, ProducerName = "MoeDetect.Tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model.ToByteArray();
    }

    public static float[] RandomValues(int seed, int count, float scale = 1f)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
    }

    private static AttributeProto Attribute(string name, object value) => value switch
    {
        int i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
        long l => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = l },
        float f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = f },
        string s => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(s) },
        int[] ints => Ints(name, ints.Select(v => (long)v)),
        long[] longs => Ints(name, longs),
        _ => throw new ArgumentException($"attribute type {value.GetType()} not handled"),
    };

    private static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, int[]? shape)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)type };
        if (shape is not null)
        {
            tensor.Shape = new TensorShapeProto();
            foreach (var d in shape)
                tensor.Shape.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = "N" } : new TensorShapeProto.Types.Dimension { DimValue = d });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }
}
