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
    private readonly Scalar _padBgr = new(spec.Pad[2], spec.Pad[1], spec.Pad[0]);

    public InputSpec Spec { get; } = spec;

    /// <summary>Writes one image (3·W·H values) into <paramref name="destination"/> and returns the letterbox used.</summary>
    public LetterboxTransform Fill(Mat bgr, Span<float> destination)
    {
        if (destination.Length < Spec.ValuesPerImage)
            throw new ArgumentException($"destination holds {destination.Length} values, needs {Spec.ValuesPerImage}");
        var letterbox = LetterboxTransform.Create(bgr.Width, bgr.Height, Spec.Width, Spec.Height, Spec.CenteredLetterbox);
        var region = new Rect(letterbox.OffsetX, letterbox.OffsetY, letterbox.ResizedWidth, letterbox.ResizedHeight);
        if (Spec.Resize == ResizeMethod.TfLegacyBilinear)
        {
            _floatCanvas.SetTo(_padBgr);
            ResizeTfLegacy(bgr, region);
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

    /// <summary>TensorFlow's bilinear resize without half-pixel centres: source = destination × (in / out), the
    /// result kept as float (no rounding to 8 bits).</summary>
    private unsafe void ResizeTfLegacy(Mat bgr, Rect region)
    {
        using var continuous = bgr.IsContinuous() ? null : bgr.Clone();
        var source = continuous ?? bgr;
        int inW = source.Width, inH = source.Height;
        float scaleX = (float)inW / region.Width, scaleY = (float)inH / region.Height;
        byte* src = (byte*)source.DataPointer;
        float* dst = (float*)_floatCanvas.DataPointer;
        var x0s = new int[region.Width];
        var x1s = new int[region.Width];
        var fxs = new float[region.Width];
        for (int x = 0; x < region.Width; x++)
        {
            float sx = x * scaleX;
            x0s[x] = Math.Min((int)sx, inW - 1);
            x1s[x] = Math.Min(x0s[x] + 1, inW - 1);
            fxs[x] = sx - x0s[x];
        }
        for (int y = 0; y < region.Height; y++)
        {
            float sy = y * scaleY;
            int y0 = Math.Min((int)sy, inH - 1), y1 = Math.Min(y0 + 1, inH - 1);
            float fy = sy - y0;
            byte* row0 = src + (long)y0 * inW * 3, row1 = src + (long)y1 * inW * 3;
            float* outRow = dst + ((long)(region.Y + y) * Spec.Width + region.X) * 3;
            for (int x = 0; x < region.Width; x++)
            {
                int a = x0s[x] * 3, b = x1s[x] * 3;
                float fx = fxs[x];
                for (int c = 0; c < 3; c++)
                {
                    float top = row0[a + c] + (row0[b + c] - row0[a + c]) * fx;
                    float bottom = row1[a + c] + (row1[b + c] - row1[a + c]) * fx;
                    outRow[x * 3 + c] = top + (bottom - top) * fy;
                }
            }
        }
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
    }
}
