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
    private readonly Mat _floatSource = new();
    private readonly Scalar _padBgr = new(spec.Pad[2], spec.Pad[1], spec.Pad[0]);

    public InputSpec Spec { get; } = spec;

    public int BytesPerCanvas => 3 * Spec.Width * Spec.Height;

    /// <summary>Writes one image (3·W·H values) into <paramref name="destination"/> and returns the letterbox used.</summary>
    public unsafe LetterboxTransform Fill(Mat bgr, Span<float> destination)
    {
        var (letterbox, region) = Place(bgr);
        if (Spec.Resize == ResizeMethod.FloatBilinear)
        {
            ResizeFloat(bgr, region);
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
    /// engines that normalise on their device (see <see cref="PixelInputGraph"/>). Float resampling is done as in
    /// <see cref="Fill"/> and then rounded to 8 bits: the one place where the two paths can differ, by at most half a
    /// grey level before normalisation.</summary>
    public unsafe LetterboxTransform FillPixels(Mat bgr, Span<byte> destination)
    {
        if (destination.Length < BytesPerCanvas)
            throw new ArgumentException($"destination holds {destination.Length} bytes, needs {BytesPerCanvas}");
        var (letterbox, region) = Place(bgr);
        fixed (byte* pixels = destination)
        {
            using var canvas = Mat.FromPixelData(Spec.Height, Spec.Width, MatType.CV_8UC3, (nint)pixels);
            if (Spec.Resize == ResizeMethod.FloatBilinear)
            {
                ResizeFloat(bgr, region);
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

    /// <summary>Half-pixel bilinear on float pixels (TensorFlow's resize with half-pixel centres): no rounding to
    /// 8 bits between resampling and normalisation.</summary>
    private void ResizeFloat(Mat bgr, Rect region)
    {
        _floatCanvas.SetTo(_padBgr);
        bgr.ConvertTo(_floatSource, MatType.CV_32FC3);
        using var target = new Mat(_floatCanvas, region);
        Cv2.Resize(_floatSource, target, region.Size, 0, 0, InterpolationFlags.Linear);
    }

    public void Dispose()
    {
        _canvas.Dispose();
        _floatCanvas.Dispose();
        _floatSource.Dispose();
    }
}
