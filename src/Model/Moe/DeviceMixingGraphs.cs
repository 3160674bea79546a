using Google.Protobuf;
using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Moe;

/// <summary>The two tiny ONNX graphs the device-resident MoE engine runs between experts, so that gathering the
/// frames of an expert and mixing the experts' outputs happen where the tensors are (same execution provider),
/// not on the host. Shapes are left open: one session serves every block and batch.</summary>
internal static class DeviceMixingGraphs
{
    public const string Rows = "rows", Weights = "weights", Grouped = "grouped_shape", OutputShape = "output_shape", Output = "y";
    private const int Opset = 17;

    public static string ExpertInput(int i) => $"y{i}";

    /// <summary>y = x[rows] along the batch: the frames that chose one expert.</summary>
    public static byte[] Gather()
    {
        var graph = new GraphProto { Name = "moe_gather" };
        graph.Input.Add(Value("x", TensorProto.Types.DataType.Float));
        graph.Input.Add(Value(Rows, TensorProto.Types.DataType.Int64));
        graph.Node.Add(Node("Gather", ["x", Rows], Output, axis: 0));
        graph.Output.Add(Value(Output, TensorProto.Types.DataType.Float));
        return ToModel(graph);
    }

    /// <summary>The block output of <paramref name="experts"/> executed experts: their outputs stacked along the
    /// batch, then for each frame its k slots (rows into that stack, weights; unused slots weigh 0) gathered,
    /// weighted and summed: y[f] = Σ_s weights[f·k+s] · stack[rows[f·k+s]]. The host passes the weights shaped
    /// [batch·k, 1, …] to broadcast, <see cref="Grouped"/> = [batch, k, -1] and the output shape.</summary>
    public static byte[] Combine(int experts)
    {
        var graph = new GraphProto { Name = $"moe_combine_{experts}" };
        var stacked = Enumerable.Range(0, experts).Select(ExpertInput).ToArray();
        foreach (var name in stacked) graph.Input.Add(Value(name, TensorProto.Types.DataType.Float));
        graph.Input.Add(Value(Rows, TensorProto.Types.DataType.Int64));
        graph.Input.Add(Value(Weights, TensorProto.Types.DataType.Float));
        graph.Input.Add(Value(Grouped, TensorProto.Types.DataType.Int64));
        graph.Input.Add(Value(OutputShape, TensorProto.Types.DataType.Int64));
        string slotAxis = OnnxProtos.AddInt64s(graph, "slot_axis", [1]);

        graph.Node.Add(Node("Concat", stacked, "stack", axis: 0));
        graph.Node.Add(Node("Gather", ["stack", Rows], "slots", axis: 0));
        graph.Node.Add(Node("Mul", ["slots", Weights], "weighted"));
        graph.Node.Add(Node("Reshape", ["weighted", Grouped], "grouped"));
        var sum = Node("ReduceSum", ["grouped", slotAxis], "summed");
        sum.Attribute.Add(OnnxProtos.IntAttribute("keepdims", 0));
        graph.Node.Add(sum);
        graph.Node.Add(Node("Reshape", ["summed", OutputShape], Output));
        graph.Output.Add(Value(Output, TensorProto.Types.DataType.Float));
        return ToModel(graph);
    }

    private static NodeProto Node(string op, IEnumerable<string> inputs, string output, long? axis = null) =>
        OnnxProtos.Node(op, inputs, [output], attributes: axis is { } a ? [OnnxProtos.IntAttribute("axis", a)] : []);

    /// <summary>A tensor of the given type and open shape.</summary>
    private static ValueInfoProto Value(string name, TensorProto.Types.DataType type) => OnnxProtos.TensorValue(name, type);

    private static byte[] ToModel(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "moedetect", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model.ToByteArray();
    }
}
