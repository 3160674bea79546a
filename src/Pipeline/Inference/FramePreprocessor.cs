using OpenCvSharp;
using MoeDetect.Model.Input;

namespace MoeDetect.Pipeline.Inference;

/// <summary>BGR frame → letterboxed, normalised tensor in the model's layout and channel order. The letterboxed
/// picture is built as float BGR (resampled the way the model was trained, see <see cref="ResizeMethod"/>), then
/// one pass normalises and lays it out. Keeps its canvases between frames; one instance per worker thread.</summary>
public sealed class FramePreprocessor(InputSpec spec) : IDisposable
{
    private readonly Mat _canvas = new(spec.Height, spec.Width, MatType.CV_8UC3);
    private readonly Mat _floatCanvas = new(spec.Height, spec.Width, MatType.CV_32FC3);
    private readonly Mat _floatSource = new();
    private readonly Scalar _padBgr = new(spec.Pad[2], spec.Pad[1], spec.Pad[0]);

    public InputSpec Spec { get; } = spec;

    /// <summary>Writes one image (3·W·H values) into <paramref name="destination"/> and returns the letterbox used.</summary>
    public LetterboxTransform Fill(Mat bgr, Span<float> destination)
    {
        if (destination.Length < Spec.ValuesPerImage)
            throw new ArgumentException($"destination holds {destination.Length} values, needs {Spec.ValuesPerImage}");
        var letterbox = LetterboxTransform.Create(bgr.Width, bgr.Height, Spec.Width, Spec.Height, Spec.CenteredLetterbox);
        var region = new Rect(letterbox.OffsetX, letterbox.OffsetY, letterbox.ResizedWidth, letterbox.ResizedHeight);
        if (Spec.Resize == ResizeMethod.FloatBilinear)
        {
            _floatCanvas.SetTo(_padBgr);
            bgr.ConvertTo(_floatSource, MatType.CV_32FC3);
            using var target = new Mat(_floatCanvas, region);
            Cv2.Resize(_floatSource, target, region.Size, 0, 0, InterpolationFlags.Linear);
        }
        else
        {
            _canvas.SetTo(_padBgr);
            using (var target = new Mat(_canvas, region))
                Cv2.Resize(bgr, target, region.Size, 0, 0, InterpolationFlags.Linear);
            _canvas.ConvertTo(_floatCanvas, MatType.CV_32FC3);
        }
        WriteTensor(destination);
        return letterbox;
    }

    private unsafe void WriteTensor(Span<float> destination)
    {
        int pixels = Spec.Width * Spec.Height;
        // Source channel for each output channel: the canvas is BGR.
        int c0 = Spec.Order == ChannelOrder.Rgb ? 2 : 0, c2 = 2 - c0;
        float s0 = 1 / Spec.Std[0], s1 = 1 / Spec.Std[1], s2 = 1 / Spec.Std[2];
        float m0 = Spec.Mean[0], m1 = Spec.Mean[1], m2 = Spec.Mean[2];
        float* src = (float*)_floatCanvas.DataPointer;
        fixed (float* dst = destination)
        {
            if (Spec.Layout == TensorLayout.Nhwc)
            {
                for (int p = 0; p < pixels; p++, src += 3)
                {
                    dst[3 * p] = (src[c0] - m0) * s0;
                    dst[3 * p + 1] = (src[1] - m1) * s1;
                    dst[3 * p + 2] = (src[c2] - m2) * s2;
                }
            }
            else
            {
                float* plane1 = dst + pixels, plane2 = dst + 2 * pixels;
                for (int p = 0; p < pixels; p++, src += 3)
                {
                    dst[p] = (src[c0] - m0) * s0;
                    plane1[p] = (src[1] - m1) * s1;
                    plane2[p] = (src[c2] - m2) * s2;
                }
            }
        }
    }

    public void Dispose()
    {
        _canvas.Dispose();
        _floatCanvas.Dispose();
        _floatSource.Dispose();
    }
}
