using Google.Protobuf;
using Onnx;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>A small graph in the Ultralytics YOLOv8 convention, built here: input "images" [batch, 3, 64, 64]
/// (dynamic batch, RGB 0–1), output "output0" [batch, 4 + 2 classes, 4096] from two 1×1 convolutions, boxes as
/// 64·sigmoid and class scores as sigmoid, so detections depend on every pixel value and channel.</summary>
internal static class TinyDetectorGraph
{
    public const int Size = 64;

    /// <param name="openAnchors">Declare the anchors dimension of the output open, as dynamic Ultralytics exports do.</param>
    public static byte[] Build(bool openAnchors = false)
    {
        var graph = new GraphProto { Name = "tiny" };
        graph.Input.Add(Value("images", TensorProto.Types.DataType.Float, new DimParam("batch"), 3, Size, Size));
        graph.Output.Add(Value("output0", TensorProto.Types.DataType.Float, new DimParam("batch"), 6, openAnchors ? new DimParam("anchors") : Size * Size));
        var random = new Random(7);
        Floats(graph, "box_w", [4, 3, 1, 1], Enumerable.Range(0, 12).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray());
        Floats(graph, "cls_w", [2, 3, 1, 1], Enumerable.Range(0, 6).Select(_ => (float)(random.NextDouble() * 6 - 3)).ToArray());
        Floats(graph, "scale", [], [64f]);
        Int64s(graph, "shape", [3], [0, 6, -1]);
        Node(graph, "Conv", ["images", "box_w"], "box_raw");
        Node(graph, "Sigmoid", ["box_raw"], "box_unit");
        Node(graph, "Mul", ["box_unit", "scale"], "box");
        Node(graph, "Conv", ["images", "cls_w"], "cls_raw");
        Node(graph, "Sigmoid", ["cls_raw"], "cls");
        var concat = Node(graph, "Concat", ["box", "cls"], "joined");
        concat.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        Node(graph, "Reshape", ["joined", "shape"], "output0");

        var model = new ModelProto { IrVersion = 8, Graph = graph, ProducerName = "MoeDetect.Tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "names", Value = "{0: 'ball', 1: 'cup'}" });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "imgsz", Value = $"[{Size}, {Size}]" });
        return model.ToByteArray();
    }

    private sealed record DimParam(string Name);

    private static ValueInfoProto Value(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is DimParam p ? new TensorShapeProto.Types.Dimension { DimParam = p.Name } : new TensorShapeProto.Types.Dimension { DimValue = (int)d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }

    private static NodeProto Node(GraphProto graph, string op, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = op, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        graph.Node.Add(node);
        return node;
    }

    private static void Floats(GraphProto graph, string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        graph.Initializer.Add(t);
    }

    private static void Int64s(GraphProto graph, string name, long[] dims, long[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        graph.Initializer.Add(t);
    }
}
