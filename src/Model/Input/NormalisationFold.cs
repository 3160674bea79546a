using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Input;

/// <summary>Folds the channel reorder (BGR → RGB) and the per-channel 1/std of the input normalisation into the
/// weights of the convolutions that read the normalised tensor: w'[o, j] = Σ w[o, c]·scale[c] over the channels c
/// taken from source channel j. A convolution is linear and its zero padding stays zero under a scale, so the
/// result is the same up to float rounding, and the device-bound ONNX Runtime engine skips a Gather and a Mul over the batch's pixels
/// (each a kernel of its own: a few percent of a small network's time at batch 1). The mean is not folded: with
/// zero padding at the image edges a bias could not stand in for it.</summary>
internal static class NormalisationFold
{
    /// <summary>Whether every reader of <paramref name="tensor"/> is a plain convolution (group 1, constant float
    /// weights [O, 3, kH, kW]) that takes it as its data input, and the graph does not output it.</summary>
    public static bool Applies(GraphProto graph, string tensor)
    {
        var readers = Readers(graph, tensor);
        return readers.Count > 0 && graph.Output.All(o => o.Name != tensor) && readers.All(node =>
            node.OpType == "Conv" && node.Input.Skip(1).All(i => i != tensor)
            && node.Attribute.All(a => a.Name != "group" || a.I == 1)
            && Weights(graph, node) is { Dims: [_, 3, _, _] } weights && OnnxProtos.FloatValues(weights) is not null);
    }

    /// <summary>Gives every reader of <paramref name="tensor"/> weights that take the channels unreordered and unscaled;
    /// normalised channel c is source channel <paramref name="sourceChannel"/>[c] times <paramref name="scale"/>[c].
    /// Only after <see cref="Applies"/>.</summary>
    public static void Fold(GraphProto graph, string tensor, int[] sourceChannel, float[] scale)
    {
        foreach (var conv in Readers(graph, tensor))
        {
            var weights = Weights(graph, conv)!;
            var w = OnnxProtos.FloatValues(weights)!;
            var folded = new float[w.Length];
            long perChannel = weights.Dims[2] * weights.Dims[3];
            for (long o = 0; o < weights.Dims[0]; o++)
                for (int c = 0; c < 3; c++)
                    for (long k = 0; k < perChannel; k++)
                        folded[(o * 3 + sourceChannel[c]) * perChannel + k] += w[(o * 3 + c) * perChannel + k] * scale[c];
            // A new initializer per convolution: the original may be shared with readers of other tensors (ONNX
            // Runtime drops it where nothing reads it any more).
            conv.Input[1] = OnnxProtos.AddFloats(graph, $"{conv.Input[1]}/moedetect_normalisation_folded", folded, weights.Dims.ToArray());
        }
    }

    private static List<NodeProto> Readers(GraphProto graph, string tensor) => graph.Node.Where(n => n.Input.Contains(tensor)).ToList();

    private static TensorProto? Weights(GraphProto graph, NodeProto conv) =>
        conv.Input.Count > 1 ? graph.Initializer.FirstOrDefault(i => i.Name == conv.Input[1]) : null;
}
