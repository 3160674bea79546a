using ILGPU;

namespace MoeDetect.Kernels.Preprocessing;

/// <summary>Where one frame's BGR bytes lie in the batch's byte buffer, where its resized image goes in the network
/// input, and where its interpolation tables start (see <see cref="LetterboxKernel"/>).</summary>
public struct LetterboxFrame
{
    public int SourceOffset, SourceStride, SourceWidth, SourceHeight;
    public int ResizedWidth, ResizedHeight, OffsetX, OffsetY;
    /// <summary>Start of this frame's column entries (ResizedWidth of them) and row entries (ResizedHeight).</summary>
    public int ColumnTable, RowTable;
}

/// <summary>What every frame of a batch shares: the network input size, layout and per-channel normalisation
/// (channels in the model's order; <c>InvStd</c> = 1/std; pad already in the model's channel order).</summary>
public struct TensorFormat
{
    public int Width, Height, Nhwc, SourceChannelOfFirst;
    public float Mean0, Mean1, Mean2, InvStd0, InvStd1, InvStd2;
    public int Pad0, Pad1, Pad2;
}

/// <summary>One pixel's blue, green and red, each 0–255.</summary>
public struct Bgr
{
    public int B, G, R;
}

/// <summary>A frame's pixels as the letterbox's interpolation reads them: BGR bytes, however the frame stores them
/// (interleaved BGR, or 4:2:0 converted on the fly). Implemented by structs, so kernels calling it compile to direct
/// code.</summary>
public interface IFramePixels
{
    /// <summary>Pixel (<paramref name="x"/>, <paramref name="y"/>), both inside the frame.</summary>
    Bgr At(int x, int y);
}

/// <summary>An interleaved 8-bit BGR frame in the batch's byte buffer, from <paramref name="offset"/>, rows
/// <paramref name="stride"/> bytes apart.</summary>
public readonly struct BgrPixels(ArrayView<byte> sources, int offset, int stride) : IFramePixels
{
    public Bgr At(int x, int y)
    {
        int at = offset + y * stride + 3 * x;
        return new Bgr { B = sources[at], G = sources[at + 1], R = sources[at + 2] };
    }
}

/// <summary>Decoded BGR frames → letterboxed, normalised network input, one thread per output pixel, in one pass.
/// The resize reproduces OpenCV's 8-bit INTER_LINEAR: half-pixel centres, 11-bit fixed-point weights computed on
/// the host per column/row (tables: source index, weight of the first neighbour out of 2048), horizontal pass
/// in integers, vertical pass with OpenCV's SIMD rounding, result rounded to a byte before normalisation.</summary>
public static class LetterboxKernel
{
    public const int WeightOne = 2048;

    public static void Run(Index1D index, ArrayView<byte> sources, ArrayView<LetterboxFrame> frames,
        ArrayView<int> tableIndex, ArrayView<int> tableWeight, ArrayView<float> output, TensorFormat format)
    {
        int pixels = format.Width * format.Height;
        int item = index / pixels;
        var frame = frames[item];
        Resample(item, index % pixels, new BgrPixels(sources, frame.SourceOffset, frame.SourceStride), frame, tableIndex, tableWeight, output, format);
    }

    /// <summary>Writes output pixel <paramref name="pixel"/> of image <paramref name="item"/>: the frame resized as
    /// above where the letterbox places it, the pad elsewhere. Shared by the kernels of every frame format.</summary>
    public static void Resample<TPixels>(int item, int pixel, TPixels source, LetterboxFrame frame,
        ArrayView<int> tableIndex, ArrayView<int> tableWeight, ArrayView<float> output, TensorFormat format)
        where TPixels : struct, IFramePixels
    {
        int y = pixel / format.Width, x = pixel % format.Width;
        int rx = x - frame.OffsetX, ry = y - frame.OffsetY;
        int b, g, r;
        bool inside = rx >= 0 && ry >= 0 && rx < frame.ResizedWidth && ry < frame.ResizedHeight;
        if (inside)
        {
            int sx0 = tableIndex[frame.ColumnTable + rx], ax = tableWeight[frame.ColumnTable + rx];
            int sy = tableIndex[frame.RowTable + ry], by = tableWeight[frame.RowTable + ry];
            int sx1 = sx0 + 1 < frame.SourceWidth ? sx0 + 1 : sx0;
            int sy0 = Clamp(sy, frame.SourceHeight), sy1 = Clamp(sy + 1, frame.SourceHeight);
            var p00 = source.At(sx0, sy0);
            var p01 = source.At(sx1, sy0);
            var p10 = source.At(sx0, sy1);
            var p11 = source.At(sx1, sy1);
            b = Blend(p00.B, p01.B, p10.B, p11.B, ax, by);
            g = Blend(p00.G, p01.G, p10.G, p11.G, ax, by);
            r = Blend(p00.R, p01.R, p10.R, p11.R, ax, by);
        }
        else
        {
            // Pad is given in model channel order; map it back to B, G, R.
            bool rgb = format.SourceChannelOfFirst == 2;
            b = rgb ? format.Pad2 : format.Pad0;
            g = format.Pad1;
            r = rgb ? format.Pad0 : format.Pad2;
        }
        NetworkInput.Store(output, format, item, pixel, b, g, r);
    }

    private static int Clamp(int v, int size) => v < 0 ? 0 : v >= size ? size - 1 : v;

    /// <summary>One channel from its four neighbours (p01 right of p00, p10 below it).</summary>
    private static int Blend(int p00, int p01, int p10, int p11, int ax, int by)
    {
        int h0 = p00 * ax + p01 * (WeightOne - ax);
        int h1 = p10 * ax + p11 * (WeightOne - ax);
        // OpenCV's VResizeLinearVec_32s8u: ((h0>>4)*b0 >> 16) + ((h1>>4)*b1 >> 16), rounded by 2 bits.
        int v = ((((h0 >> 4) * by) >> 16) + (((h1 >> 4) * (WeightOne - by)) >> 16) + 2) >> 2;
        return v < 0 ? 0 : v > 255 ? 255 : v;
    }
}
