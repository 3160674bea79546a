using OpenCvSharp;
using MoeDetect.Model.Input;

namespace MoeDetect.Pipeline.Inference;

/// <summary>BGR frame → letterboxed canvas of the network size → (for float engines) normalised tensor in the
/// model's layout and channel order. Keeps its canvas between frames; one instance per worker thread.</summary>
public sealed class FramePreprocessor(InputSpec spec) : IDisposable
{
    private readonly Mat _canvas = new(spec.Height, spec.Width, MatType.CV_8UC3);
    private readonly Scalar _padBgr = new(spec.Pad[2], spec.Pad[1], spec.Pad[0]);

    public InputSpec Spec { get; } = spec;

    public int BytesPerCanvas => 3 * Spec.Width * Spec.Height;

    /// <summary>Writes one image (3·W·H values) into <paramref name="destination"/> and returns the letterbox used.</summary>
    public unsafe LetterboxTransform Fill(Mat bgr, Span<float> destination)
    {
        var letterbox = Letterbox(bgr, _canvas);
        PixelTensor.Write(Spec, new ReadOnlySpan<byte>((void*)_canvas.DataPointer, BytesPerCanvas), destination);
        return letterbox;
    }

    /// <summary>Writes one letterboxed 8-bit BGR canvas (W·H·3 bytes) into <paramref name="destination"/>, for
    /// engines that normalise on their device (see <see cref="PixelInputGraph"/>).</summary>
    public unsafe LetterboxTransform FillPixels(Mat bgr, Span<byte> destination)
    {
        if (destination.Length < BytesPerCanvas)
            throw new ArgumentException($"destination holds {destination.Length} bytes, needs {BytesPerCanvas}");
        fixed (byte* pixels = destination)
        {
            using var canvas = Mat.FromPixelData(Spec.Height, Spec.Width, MatType.CV_8UC3, (nint)pixels);
            return Letterbox(bgr, canvas);
        }
    }

    private LetterboxTransform Letterbox(Mat bgr, Mat canvas)
    {
        var letterbox = LetterboxTransform.Create(bgr.Width, bgr.Height, Spec.Width, Spec.Height, Spec.CenteredLetterbox);
        canvas.SetTo(_padBgr);
        using (var region = new Mat(canvas, new Rect(letterbox.OffsetX, letterbox.OffsetY, letterbox.ResizedWidth, letterbox.ResizedHeight)))
            Cv2.Resize(bgr, region, new Size(letterbox.ResizedWidth, letterbox.ResizedHeight), 0, 0, InterpolationFlags.Linear);
        return letterbox;
    }

    public void Dispose() => _canvas.Dispose();
}
