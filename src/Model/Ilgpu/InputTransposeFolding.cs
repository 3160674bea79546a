using Onnx;

namespace MoeDetect.Model.Ilgpu;

/// <summary>A TensorFlow converter's NHWC image input read by one Transpose to NCHW (the CenterNet teacher's, the one
/// Transpose <see cref="TransposeSinking"/> leaves at the input) becomes a Reshape of the input to [N, 3, H, W]: a view,
/// no launch. The input's memory then holds the image channels first, so whoever writes it must write NCHW: the device
/// preprocessing kernels do so directly, and host tensors (NHWC, as the model describes them) are transposed as they
/// are uploaded (<see cref="IlgpuEngine"/>). On the product path that saves a launch on the plan's chain and, at
/// batch 32 of 512 × 512, a copy of 100 MB (0.21 ms on an H100).</summary>
internal static class InputTransposeFolding
{
    /// <summary>Set to 0 to keep the input's Transpose (to compare).</summary>
    public const string Switch = "MOEDETECT_ILGPU_INPUT_FOLDING";

    /// <summary>Rewrites graph where it has that shape, unless <see cref="Switch"/> is 0; whether it did.</summary>
    public static bool Apply(OnnxGraph graph)
    {
        if (Environment.GetEnvironmentVariable(Switch) == "0") return false;
        if (graph.Inputs.Count != 1 || graph.InputShape is not [_, > 0 and var height, > 0 and var width, 3]) return false;
        if (graph.OutputNames.Contains(graph.InputName)) return false;
        var readers = graph.Nodes.Where(n => n.ReadsData && n.Inputs.Contains(graph.InputName)).ToList();
        if (readers is not [{ OpType: "Transpose" } transpose] || transpose.Ints("perm") is not [0, 3, 1, 2]) return false;
        string shape = $"{transpose.Name}/channels_first_shape";
        // 0 keeps the input's (free) batch.
        graph.Constants[shape] = HostTensor.Integers([0, 3, height, width]);
        graph.Nodes[graph.Nodes.IndexOf(transpose)] = new GraphNode("Reshape", transpose.Name, [graph.InputName, shape], transpose.Outputs,
            new Dictionary<string, AttributeProto>());
        return true;
    }

    /// <summary>NHWC images (<paramref name="pixels"/> each, 3 channels) as NCHW.</summary>
    public static void ToChannelsFirst(ReadOnlySpan<float> nhwc, Span<float> nchw, int pixels)
    {
        for (int image = 0; image < nhwc.Length / (3 * pixels); image++)
        {
            var from = nhwc.Slice(image * 3 * pixels, 3 * pixels);
            var to = nchw.Slice(image * 3 * pixels, 3 * pixels);
            for (int p = 0; p < pixels; p++)
            {
                to[p] = from[3 * p];
                to[pixels + p] = from[3 * p + 1];
                to[2 * pixels + p] = from[3 * p + 2];
            }
        }
    }
}
