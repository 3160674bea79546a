using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Input;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>An NHWC image input read only by a Transpose to NCHW is read channels first instead
/// (<see cref="InputTransposeFolding"/>): host tensors are transposed as they are uploaded, the device preprocessing
/// writes NCHW, and both give what ONNX Runtime gives on the graph as stored.</summary>
public class InputTransposeFoldingTests
{
    private const int Height = 6, Width = 7;

    /// <summary>x [N, 6, 7, 3] → Transpose → 3×3 Conv (+ ReLU): a converted TensorFlow stem.</summary>
    private static byte[] Stem(bool inputAlsoReadElsewhere = false)
    {
        var graph = new TinyOnnxGraph().Input("x", Height, Width, 3).Random("w", 1, 4, 3, 3, 3).Random("b", 2, 4)
            .Node("Transpose", ["x"], ["x_nchw"], ("perm", new[] { 0, 3, 1, 2 }))
            .Node("Conv", ["x_nchw", "w", "b"], ["c"], ("pads", new[] { 1, 1, 1, 1 })).Node("Relu", ["c"], ["y"]).Output("y");
        if (inputAlsoReadElsewhere) graph.Node("Relu", ["x"], ["x_relu"]).Output("x_relu");
        return graph.Build();
    }

    [Fact]
    public void The_input_transpose_becomes_a_view_and_host_tensors_still_match_ONNX_Runtime()
    {
        var model = Stem();
        using (var engine = IlgpuEngine.Load(model, "stem", IlgpuTarget.CpuAccelerator))
            Assert.Equal(0, engine.Summary(2).Transposes);
        float error = OrtParity.MaxAbsError(model, [2, Height, Width, 3], scale: 2f);
        Assert.True(error < 1e-5f, $"max abs error {error}");
    }

    [Fact]
    public void An_input_read_by_other_nodes_too_keeps_its_transpose()
    {
        var model = Stem(inputAlsoReadElsewhere: true);
        using (var engine = IlgpuEngine.Load(model, "stem", IlgpuTarget.CpuAccelerator))
            Assert.Equal(1, engine.Summary(1).Transposes);
        Assert.True(OrtParity.MaxAbsError(model, [1, Height, Width, 3]) < 1e-5f);
    }

    /// <summary>The product path: 8-bit canvases normalised on the device straight into the channels-first input give
    /// the outputs of the CPU path's NHWC floats.</summary>
    [Fact]
    public void Canvases_normalised_on_the_device_give_what_the_cpu_paths_floats_give()
    {
        var model = Stem();
        var spec = new InputSpec("x", Width, Height, TensorLayout.Nhwc, ChannelOrder.Rgb, [10, 20, 30], [50, 60, 70], [0, 0, 0], CenteredLetterbox: true);
        var canvases = new byte[2 * spec.ValuesPerImage];
        new Random(5).NextBytes(canvases);
        var floats = new float[canvases.Length];
        for (int i = 0; i < 2; i++)
            PixelTensor.Write(spec, canvases.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage), floats.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));
        var expected = OrtParity.RunOrt(model, [2, Height, Width, 3], floats)["y"].Values;

        using var pixels = new IlgpuPixelEngine(IlgpuEngine.Load(model, "stem", IlgpuTarget.CpuAccelerator), spec, capacity: 2);
        canvases.CopyTo(pixels.PixelStaging);
        var actual = pixels.RunPixels(2).Tensor("y").Data;
        Assert.Equal(expected.Length, actual.Length);
        float worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst < 1e-5f, $"max abs error {worst}");
    }
}
