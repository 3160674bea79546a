using OpenCvSharp;
using MoeDetect.Model.Input;

namespace MoeDetect.Pipeline.Inference;

/// <summary>BGR frame → letterboxed picture of the network size (resampled the way the model was trained, see
/// <see cref="ResizeMethod"/>) → either the normalised float tensor in the model's layout and channel order
/// (<see cref="Fill"/>), or the 8-bit BGR canvas itself for engines that normalise on their device
/// (<see cref="FillPixels"/>). Keeps its canvases between frames; one instance per worker thread.</summary>
public sealed class FramePreprocessor(InputSpec spec) : IDisposable
{
    private readonly Mat _canvas = new(spec.Height, spec.Width, MatType.CV_8UC3);
    private readonly Mat _floatCanvas = new(spec.Height, spec.Width, MatType.CV_32FC3);
    private readonly Scalar _padBgr = new(spec.Pad[2], spec.Pad[1], spec.Pad[0]);

    public InputSpec Spec { get; } = spec;

    public int BytesPerCanvas => 3 * Spec.Width * Spec.Height;

    /// <summary>Writes one image (3·W·H values) into <paramref name="destination"/> and returns the letterbox used.</summary>
    public unsafe LetterboxTransform Fill(Mat bgr, Span<float> destination)
    {
        var (letterbox, region) = Place(bgr);
        if (Spec.Resize == ResizeMethod.TfLegacyBilinear)
        {
            _floatCanvas.SetTo(_padBgr);
            ResizeTfLegacy(bgr, region);
        }
        else
        {
            ResizeOpenCv(bgr, _canvas, region);
            _canvas.ConvertTo(_floatCanvas, MatType.CV_32FC3);
        }
        PixelTensor.Write(Spec, new ReadOnlySpan<float>((void*)_floatCanvas.DataPointer, BytesPerCanvas), destination);
        return letterbox;
    }

    /// <summary>Writes one letterboxed 8-bit BGR canvas (W·H·3 bytes) into <paramref name="destination"/>, for
    /// engines that normalise on their device (see <see cref="PixelInputGraph"/>). TF-legacy resampling is done in
    /// float as in <see cref="Fill"/> and then rounded to 8 bits: the one place where the two paths can differ, by at
    /// most half a grey level before normalisation.</summary>
    public unsafe LetterboxTransform FillPixels(Mat bgr, Span<byte> destination)
    {
        if (destination.Length < BytesPerCanvas)
            throw new ArgumentException($"destination holds {destination.Length} bytes, needs {BytesPerCanvas}");
        var (letterbox, region) = Place(bgr);
        fixed (byte* pixels = destination)
        {
            using var canvas = Mat.FromPixelData(Spec.Height, Spec.Width, MatType.CV_8UC3, (nint)pixels);
            if (Spec.Resize == ResizeMethod.TfLegacyBilinear)
            {
                _floatCanvas.SetTo(_padBgr);
                ResizeTfLegacy(bgr, region);
                _floatCanvas.ConvertTo(canvas, MatType.CV_8UC3);
            }
            else
            {
                ResizeOpenCv(bgr, canvas, region);
            }
        }
        return letterbox;
    }

    private (LetterboxTransform Letterbox, Rect Region) Place(Mat bgr)
    {
        var letterbox = LetterboxTransform.Create(bgr.Width, bgr.Height, Spec.Width, Spec.Height, Spec.CenteredLetterbox);
        return (letterbox, new Rect(letterbox.OffsetX, letterbox.OffsetY, letterbox.ResizedWidth, letterbox.ResizedHeight));
    }

    private void ResizeOpenCv(Mat bgr, Mat canvas, Rect region)
    {
        canvas.SetTo(_padBgr);
        using var target = new Mat(canvas, region);
        Cv2.Resize(bgr, target, region.Size, 0, 0, InterpolationFlags.Linear);
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

    public void Dispose()
    {
        _canvas.Dispose();
        _floatCanvas.Dispose();
    }
}
