using ILGPU;

namespace MoeDetect.Kernels.Preprocessing;

/// <summary>One 4:2:0 frame of the batch: its letterbox geometry (the Y plane as the source: offset, stride, size)
/// and where its chroma lies in the batch's byte buffer. U and V sample (cx, cy) are at
/// <c>UOffset/VOffset + cy·ChromaStride + cx·ChromaStep</c>: NV12 interleaves them (step 2, VOffset = UOffset + 1),
/// I420 keeps two planes (step 1).</summary>
public struct Yuv420Frame
{
    public LetterboxFrame Letterbox;
    public int UOffset, VOffset, ChromaStride, ChromaStep;
}

/// <summary>A 4:2:0 frame's pixels converted to BGR exactly as OpenCV's <c>cvtColor</c> YUV2BGR_NV12 / YUV2BGR_I420
/// does (color_yuv.simd.hpp, BT.601 studio range in 20-bit fixed point): each pixel takes the chroma of its 2×2 block,
/// <c>y = max(0, Y − 16)·CY</c>, and each channel is <c>(y + chroma term + 2¹⁹) >> 20</c> saturated to a byte.</summary>
public readonly struct Yuv420Pixels(ArrayView<byte> sources, Yuv420Frame frame) : IFramePixels
{
    private const int Shift = 20;
    private const int Cy = 1220542, Cub = 2116026, Cug = -409993, Cvg = -852492, Cvr = 1673527;

    public Bgr At(int x, int y)
    {
        int luma = sources[frame.Letterbox.SourceOffset + y * frame.Letterbox.SourceStride + x];
        int chroma = (y >> 1) * frame.ChromaStride + (x >> 1) * frame.ChromaStep;
        int u = sources[frame.UOffset + chroma] - 128, v = sources[frame.VOffset + chroma] - 128;
        int scaled = (luma > 16 ? luma - 16 : 0) * Cy + (1 << (Shift - 1));
        return new Bgr
        {
            B = Saturate((scaled + Cub * u) >> Shift),
            G = Saturate((scaled + Cvg * v + Cug * u) >> Shift),
            R = Saturate((scaled + Cvr * v) >> Shift),
        };
    }

    private static int Saturate(int v) => v < 0 ? 0 : v > 255 ? 255 : v;
}

/// <summary>Decoded 4:2:0 frames (NV12 or I420) → letterboxed, normalised network input in one pass: what OpenCV's
/// YUV2BGR conversion followed by <see cref="LetterboxKernel"/> gives, byte for byte before normalisation. Each of a
/// pixel's four interpolation neighbours is converted to BGR on the fly (<see cref="Yuv420Pixels"/>), then blended
/// with the same fixed-point weights. Half the bytes of BGR frames cross the bus (1.5 a pixel, not 3).</summary>
public static class YuvLetterboxKernel
{
    public static void Run(Index1D index, ArrayView<byte> sources, ArrayView<Yuv420Frame> frames,
        ArrayView<int> tableIndex, ArrayView<int> tableWeight, ArrayView<float> output, TensorFormat format)
    {
        int pixels = format.Width * format.Height;
        int item = index / pixels;
        var frame = frames[item];
        LetterboxKernel.Resample(item, index % pixels, new Yuv420Pixels(sources, frame), frame.Letterbox, tableIndex, tableWeight, output, format);
    }
}
