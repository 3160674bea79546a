using MoeDetect.Model.Input;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Tests.Support;
using OpenCvSharp;
using Xunit;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>The 8-bit canvas that pixel engines get (<see cref="FramePreprocessor.FillPixels"/>) against the float
/// tensor of <see cref="FramePreprocessor.Fill"/>, on a real photo: identical after OpenCV's resize; within half a
/// grey level after TF's legacy resize, whose fractions the 8-bit canvas rounds.</summary>
public sealed class PixelCanvasTests
{
    [SkippableTheory]
    [InlineData(ResizeMethod.OpenCvBilinear, 0.0)]
    [InlineData(ResizeMethod.FloatBilinear, 0.5)]
    public void Canvas_normalised_on_the_cpu_matches_the_float_path(ResizeMethod resize, double greyLevels)
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var spec = new InputSpec("images", 320, 320, TensorLayout.Nchw, ChannelOrder.Rgb,
            [10, 20, 30], [2, 4, 8], [114, 114, 114], CenteredLetterbox: true, resize);
        using var image = Cv2.ImRead(Directory.GetFiles(Path.Combine(TestPaths.Coco128, "images"), "*.jpg").Order().First());
        using var preprocessor = new FramePreprocessor(spec);

        var expected = new float[spec.ValuesPerImage];
        var fromFloats = preprocessor.Fill(image, expected);
        var canvas = new byte[preprocessor.BytesPerCanvas];
        var fromPixels = preprocessor.FillPixels(image, canvas);
        var actual = new float[spec.ValuesPerImage];
        PixelTensor.Write(spec, (ReadOnlySpan<byte>)canvas, actual);

        Assert.Equal(fromFloats, fromPixels);
        // Largest difference in input units: grey levels divided by the smallest std.
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= greyLevels / 2 + 1e-5, $"{resize}: 8-bit canvas differs from the float path by {worst} after normalisation");
    }
}
