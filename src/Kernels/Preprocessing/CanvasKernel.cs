using ILGPU;

namespace MoeDetect.Kernels.Preprocessing;

/// <summary>Letterboxed 8-bit BGR canvases of the network size (W·H·3 bytes each, as the host's letterbox writes
/// them) → normalised network input, one thread per pixel. For engines that take canvases instead of frames.</summary>
public static class CanvasKernel
{
    public static void Run(Index1D index, ArrayView<byte> canvases, ArrayView<float> output, TensorFormat format)
    {
        int pixels = format.Width * format.Height;
        int item = index / pixels, pixel = index % pixels;
        long at = 3L * index;
        NetworkInput.Store(output, format, item, pixel, canvases[at], canvases[at + 1], canvases[at + 2]);
    }
}
