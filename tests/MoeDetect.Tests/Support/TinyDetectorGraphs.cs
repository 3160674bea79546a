using Google.Protobuf;
using Onnx;

namespace MoeDetect.Tests.Support;

/// <summary>Builds small real ONNX detector graphs whose single output is a chosen constant tensor (plus 0 × the
/// mean of the image, so the graph really consumes its input). ONNX Runtime runs them like any export, which lets
/// tests fix exactly what the "network" outputs and check decoding, box mapping and format detection.</summary>
public static class TinyDetectorGraphs
{
    public static string Write(string folder, string fileName, int[] inputShape, string outputName, float[] output, int[] outputShape,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var graph = new GraphProto { Name = "tiny" };
        graph.Input.Add(ValueInfo("images", inputShape));
        graph.Output.Add(ValueInfo(outputName, outputShape));
        graph.Initializer.Add(Floats("constant_output", output, outputShape));
        graph.Initializer.Add(Floats("zero", [0f], []));
        graph.Node.Add(Node("ReduceMean", ["images"], ["mean"], new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = 0 }));
        graph.Node.Add(Node("Mul", ["mean", "zero"], ["nothing"]));
        graph.Node.Add(Node("Add", ["constant_output", "nothing"], [outputName]));
        var model = new ModelProto { IrVersion = 8, ProducerName = "moedetect-tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        string path = Path.Combine(folder, fileName);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    /// <summary>An Ultralytics YOLOv8-style output [1, 4 + classes, anchors] holding the given boxes (cx, cy, w, h in
    /// input pixels) with one class score each; every other anchor scores 0.</summary>
    public static float[] YoloV8Output(int classes, int anchors, params (float Cx, float Cy, float W, float H, int Class, float Score)[] boxes)
    {
        var v = new float[(4 + classes) * anchors];
        for (int a = 0; a < boxes.Length; a++)
        {
            var b = boxes[a];
            v[a] = b.Cx; v[anchors + a] = b.Cy; v[2 * anchors + a] = b.W; v[3 * anchors + a] = b.H;
            v[(4 + b.Class) * anchors + a] = b.Score;
        }
        return v;
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = outputs[0] };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static TensorProto Floats(string name, float[] values, int[] dims)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims.Select(d => (long)d));
        return tensor;
    }

    private static ValueInfoProto ValueInfo(string name, int[] shape)
    {
        var tensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() };
        foreach (int d in shape)
            tensorType.Shape.Dim.Add(d > 0 ? new TensorShapeProto.Types.Dimension { DimValue = d } : new TensorShapeProto.Types.Dimension { DimParam = "dynamic" });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
    }
}
