using Google.Protobuf;
using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Input;

/// <summary>Rewrites a detector graph to take the letterboxed 8-bit BGR canvas itself ([N, H, W, 3] uint8) instead
/// of the normalised float tensor: Transpose (layout) → Gather (channel order) on the bytes, then Cast → Sub mean →
/// Mul 1/std (each where it changes anything) are prepended, the same arithmetic as <see cref="PixelTensor"/>, so the engine that runs it uploads a quarter of the
/// bytes and normalises on its own device. Where only convolutions read the normalised tensor, the channel order
/// and 1/std go into their weights instead (<see cref="NormalisationFold"/>). The batch is fixed here (where the graph leaves it open), because
/// static shapes are what CUDA graphs need.</summary>
public static class PixelInputGraph
{
    public const string InputName = "moedetect_pixels";

    /// <summary>The graph's batch dimension when it is fixed (e.g. 1 for converted TF graphs); null when open.</summary>
    public static int? FixedBatch(byte[] model, InputSpec spec)
    {
        var dim = Input(ModelProto.Parser.ParseFrom(model).Graph, spec).Type.TensorType.Shape.Dim[0];
        return dim.DimValue > 0 ? (int)dim.DimValue : null;
    }

    /// <summary>The graph as it is, its open batch dimension fixed to <paramref name="batch"/> (static shapes for CUDA graphs).</summary>
    public static byte[] FixBatch(byte[] model, InputSpec spec, int batch)
    {
        var proto = ModelProto.Parser.ParseFrom(model);
        var dim = Input(proto.Graph, spec).Type.TensorType.Shape.Dim[0];
        CheckBatchFits(dim, spec, batch);
        dim.DimValue = batch;
        return proto.ToByteArray();
    }

    public static byte[] Rewrite(byte[] model, InputSpec spec, int batch)
    {
        var proto = ModelProto.Parser.ParseFrom(model);
        var graph = proto.Graph;
        var original = Input(graph, spec);
        CheckBatchFits(original.Type.TensorType.Shape.Dim[0], spec, batch);
        graph.Input.Remove(original);
        graph.Input.Insert(0, PixelsInput(batch, spec));

        var nodes = new List<NodeProto>();
        string Add(string op, string output, IEnumerable<string> inputs, params AttributeProto[] attributes)
        {
            nodes.Add(OnnxProtos.Node(op, inputs, [output], attributes: attributes));
            return output;
        }
        // Layout and channel order are changed on the bytes, a quarter of the floats' traffic.
        bool nchw = spec.Layout == TensorLayout.Nchw;
        int channelAxis = nchw ? 1 : 3;
        var inverseStd = PixelTensor.InverseStd(spec);
        bool reorders = spec.Order == ChannelOrder.Rgb, scales = inverseStd.Any(s => s != 1);
        int[] sourceChannel = reorders ? [2, 1, 0] : [0, 1, 2];
        bool folds = nchw && (reorders || scales) && NormalisationFold.Applies(graph, spec.TensorName);
        if (folds) NormalisationFold.Fold(graph, spec.TensorName, sourceChannel, scales ? inverseStd : [1, 1, 1]);
        string value = InputName;
        if (nchw) value = Add("Transpose", "moedetect_pixels_nchw", [value], OnnxProtos.IntsAttribute("perm", [0, 3, 1, 2]));
        if (reorders && !folds)
            value = Add("Gather", "moedetect_pixels_rgb", [value, OnnxProtos.AddInt64s(graph, "moedetect_bgr_to_rgb", [2L, 1L, 0L])], OnnxProtos.IntAttribute("axis", channelAxis));
        value = Add("Cast", "moedetect_pixels_float", [value], OnnxProtos.IntAttribute("to", (long)TensorProto.Types.DataType.Float));
        // A zero mean (Ultralytics exports) or a unit std leaves its pass out: each is a pass over the batch's floats,
        // and v − 0 and v · 1 are v exactly, so the result is the same to the bit.
        long[] perChannel = nchw ? [3, 1, 1] : [3];
        bool centres = spec.Mean.Any(m => m != 0);
        bool multiplies = scales && !folds;
        if (centres)
        {
            // Folded, the channels are still in the canvas's order here.
            var mean = new float[3];
            for (int c = 0; c < 3; c++) mean[folds ? sourceChannel[c] : c] = spec.Mean[c];
            value = Add("Sub", multiplies ? "moedetect_pixels_centred" : spec.TensorName, [value, OnnxProtos.AddFloats(graph, "moedetect_mean", mean, perChannel)]);
        }
        if (multiplies) Add("Mul", spec.TensorName, [value, OnnxProtos.AddFloats(graph, "moedetect_inverse_std", inverseStd, perChannel)]);
        else if (!centres) Add("Identity", spec.TensorName, [value]);
        for (int i = nodes.Count - 1; i >= 0; i--) graph.Node.Insert(0, nodes[i]);
        return proto.ToByteArray();
    }

    private static void CheckBatchFits(TensorShapeProto.Types.Dimension dim, InputSpec spec, int batch)
    {
        if (dim.DimValue > 0 && dim.DimValue != batch)
            throw new ArgumentException($"graph input '{spec.TensorName}' has a fixed batch of {dim.DimValue}; cannot make it {batch}");
    }

    private static ValueInfoProto Input(GraphProto graph, InputSpec spec) =>
        graph.Input.FirstOrDefault(i => i.Name == spec.TensorName)
        ?? throw new InvalidModelException($"graph has no input '{spec.TensorName}'");

    private static ValueInfoProto PixelsInput(int batch, InputSpec spec) =>
        OnnxProtos.TensorValue(InputName, TensorProto.Types.DataType.Uint8, [batch, spec.Height, spec.Width, 3]);
}
