using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Moe;
using MoeDetect.Tests.Support;
using Onnx;
using Xunit;

namespace MoeDetect.Tests.Model;

/// <summary>Zero Pads folded into the Conv after them: the same outputs from ONNX Runtime, no Pad left where one
/// could go, and the Pads that must stay (another value, another reader) kept.</summary>
public sealed class PadFoldingTests
{
    [Fact]
    public void A_computed_zero_pad_goes_into_the_conv_and_the_others_stay()
    {
        var random = new Random(2);
        float[] Weights(int n) => Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var model = new TestOnnx("pads")
            .Input("x", 1, 2, 8, 8).Output("folded", 1, 3, 8, 8).Output("valued", 1, 3, 8, 8).Output("shared", 1, 3, 8, 8).Output("padded", 1, 2, 9, 9)
            .Floats("w", Weights(24), 3, 2, 2, 2)
            // Bottom/right by one, as TensorFlow's "same" padding of an even kernel; computed, so only constant after folding.
            .Int64s("end_pads", [0, 0, 0, 0, 0, 0, 1, 1], 8).Int64s("zero", [0], 1)
            .Node("Add", ["end_pads", "zero"], "pads")
            .Floats("half", [0.5f])
            .Node("Pad", ["x", "pads", ""], "x_padded").Node("Conv", ["x_padded", "w"], "folded")
            .Node("Pad", ["x", "pads", "half"], "x_half").Node("Conv", ["x_half", "w"], "valued")
            // Top/left this time: a Pad identical to the first would be merged with it by ONNX Runtime's basic optimisation.
            .Int64s("start_pads", [0, 0, 1, 1, 0, 0, 0, 0], 8)
            .Node("Pad", ["x", "start_pads"], "x_twice").Node("Conv", ["x_twice", "w"], "shared").Node("Identity", ["x_twice"], "padded")
            .ToBytes();

        var folded = PadFolding.Apply(model);

        var pads = ModelProto.Parser.ParseFrom(folded).Graph.Node.Where(n => n.OpType == "Pad").Select(n => n.Output[0]).Order();
        Assert.Equal(["x_half", "x_twice"], pads);
        AssertSameOutputs(model, folded, [1, 2, 8, 8]);
    }

    [Fact]
    public void The_ES_MoE_pieces_lose_every_pad_and_keep_their_outputs()
    {
        var file = MoeModelFile.Open(Path.Combine(TestPaths.Models, "esmoe-centernet.moedet"));
        var expert = file.Graph("block1.e0.onnx");
        Assert.Contains(ModelProto.Parser.ParseFrom(expert).Graph.Node, n => n.OpType == "Pad");

        var folded = PadFolding.Apply(expert);

        Assert.DoesNotContain(ModelProto.Parser.ParseFrom(folded).Graph.Node, n => n.OpType == "Pad");
        AssertSameOutputs(expert, folded, [2, 16, 256, 256]);
    }

    private static void AssertSameOutputs(byte[] model, byte[] folded, int[] inputShape)
    {
        var random = new Random(5);
        var input = Enumerable.Range(0, inputShape.Aggregate(1, (a, b) => a * b)).Select(_ => (float)random.NextDouble() * 4 - 2).ToArray();
        var want = Run(model, input, inputShape);
        var got = Run(folded, input, inputShape);
        Assert.Equal(want.Keys.Order(), got.Keys.Order());
        foreach (var (name, values) in want)
            Assert.Equal(values, got[name], (a, b) => Math.Abs(a - b) <= 1e-5f);
    }

    /// <summary>ONNX Runtime without its own optimisations, so the two graphs run as written.</summary>
    private static Dictionary<string, float[]> Run(byte[] model, float[] input, int[] shape)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(model, options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.Single(), new DenseTensor<float>(input, shape))]);
        return results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
    }
}
