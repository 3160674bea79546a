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
        int item = index / pixels, pixel = index % pixels;
        int y = pixel / format.Width, x = pixel % format.Width;
        var frame = frames[item];
        int rx = x - frame.OffsetX, ry = y - frame.OffsetY;
        int b, g, r;
        bool inside = rx >= 0 && ry >= 0 && rx < frame.ResizedWidth && ry < frame.ResizedHeight;
        if (inside)
        {
            int sx0 = tableIndex[frame.ColumnTable + rx], ax = tableWeight[frame.ColumnTable + rx];
            int sy = tableIndex[frame.RowTable + ry], by = tableWeight[frame.RowTable + ry];
            int sx1 = sx0 + 1 < frame.SourceWidth ? sx0 + 1 : sx0;
            int row0 = frame.SourceOffset + Clamp(sy, frame.SourceHeight) * frame.SourceStride;
            int row1 = frame.SourceOffset + Clamp(sy + 1, frame.SourceHeight) * frame.SourceStride;
            b = Blend(sources, row0, row1, 3 * sx0, 3 * sx1, ax, by);
            g = Blend(sources, row0 + 1, row1 + 1, 3 * sx0, 3 * sx1, ax, by);
            r = Blend(sources, row0 + 2, row1 + 2, 3 * sx0, 3 * sx1, ax, by);
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

    private static int Blend(ArrayView<byte> s, int row0, int row1, int x0, int x1, int ax, int by)
    {
        int h0 = s[row0 + x0] * ax + s[row0 + x1] * (WeightOne - ax);
        int h1 = s[row1 + x0] * ax + s[row1 + x1] * (WeightOne - ax);
        // OpenCV's VResizeLinearVec_32s8u: ((h0>>4)*b0 >> 16) + ((h1>>4)*b1 >> 16), rounded by 2 bits.
        int v = ((((h0 >> 4) * by) >> 16) + (((h1 >> 4) * (WeightOne - by)) >> 16) + 2) >> 2;
        return v < 0 ? 0 : v > 255 ? 255 : v;
    }
}
