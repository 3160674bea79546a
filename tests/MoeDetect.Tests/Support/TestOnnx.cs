using Google.Protobuf;
using Onnx;

namespace MoeDetect.Tests.Support;

/// <summary>Minimal ONNX graph construction for tests (opset 17): nodes, float initializers, typed inputs/outputs.</summary>
public sealed class TestOnnx(string name)
{
    public GraphProto Graph { get; } = new() { Name = name };

    public TestOnnx Input(string tensor, params int[] shape) { Graph.Input.Add(ValueInfo(tensor, shape)); return this; }
    public TestOnnx Output(string tensor, params int[] shape) { Graph.Output.Add(ValueInfo(tensor, shape)); return this; }

    public TestOnnx Floats(string tensor, float[] values, params int[] dims)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        var t = new TensorProto { Name = tensor, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims.Select(d => (long)d));
        Graph.Initializer.Add(t);
        return this;
    }

    public TestOnnx Int64s(string tensor, long[] values, params int[] dims)
    {
        var t = new TensorProto { Name = tensor, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Int64Data.AddRange(values);
        t.Dims.AddRange(dims.Select(d => (long)d));
        Graph.Initializer.Add(t);
        return this;
    }

    public TestOnnx Node(string op, string[] inputs, string output, params (string Name, long Value)[] intAttributes)
    {
        var node = new NodeProto { OpType = op, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        foreach (var (attribute, value) in intAttributes)
            node.Attribute.Add(new AttributeProto { Name = attribute, Type = AttributeProto.Types.AttributeType.Int, I = value });
        Graph.Node.Add(node);
        return this;
    }

    public byte[] ToBytes(IReadOnlyDictionary<string, string>? metadata = null)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "moedetect-tests", Graph = Graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model.ToByteArray();
    }

    /// <summary>Shape entries ≤ 0 become named dynamic dimensions.</summary>
    private static ValueInfoProto ValueInfo(string name, int[] shape)
    {
        var tensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() };
        foreach (int d in shape)
            tensorType.Shape.Dim.Add(d > 0 ? new TensorShapeProto.Types.Dimension { DimValue = d } : new TensorShapeProto.Types.Dimension { DimParam = "N" });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
    }
}
