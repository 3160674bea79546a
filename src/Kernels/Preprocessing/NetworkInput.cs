using ILGPU;

namespace MoeDetect.Kernels.Preprocessing;

/// <summary>The last step of every preprocessing kernel: one pixel's B, G, R (0–255) into the network input, in the
/// model's channel order, normalised ((v − mean) · 1/std) and laid out NCHW or NHWC as <see cref="TensorFormat"/> says.</summary>
public static class NetworkInput
{
    public static void Store(ArrayView<float> output, TensorFormat format, int item, int pixel, int b, int g, int r)
    {
        int pixels = format.Width * format.Height;
        int first = format.SourceChannelOfFirst == 2 ? r : b, third = format.SourceChannelOfFirst == 2 ? b : r;
        float v0 = (first - format.Mean0) * format.InvStd0;
        float v1 = (g - format.Mean1) * format.InvStd1;
        float v2 = (third - format.Mean2) * format.InvStd2;
        int baseIndex = item * 3 * pixels;
        if (format.Nhwc != 0)
        {
            output[baseIndex + 3 * pixel] = v0;
            output[baseIndex + 3 * pixel + 1] = v1;
            output[baseIndex + 3 * pixel + 2] = v2;
        }
        else
        {
            output[baseIndex + pixel] = v0;
            output[baseIndex + pixels + pixel] = v1;
            output[baseIndex + 2 * pixels + pixel] = v2;
        }
    }
}
