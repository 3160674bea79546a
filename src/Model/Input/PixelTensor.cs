using System.Numerics;

namespace MoeDetect.Model.Input;

/// <summary>Turns a letterboxed BGR canvas (H×W×3; 8-bit as decoded, or float where resampling kept fractions) into
/// the model's float input on the CPU: channel order, (v − mean) / std and layout as the <see cref="InputSpec"/> says. <see cref="PixelInputGraph"/>
/// builds the same arithmetic into the graph for engines that take the canvas itself.</summary>
public static class PixelTensor
{
    public static unsafe void Write<T>(InputSpec spec, ReadOnlySpan<T> bgrCanvas, Span<float> destination)
        where T : unmanaged, INumberBase<T>
    {
        int pixels = spec.Width * spec.Height;
        if (bgrCanvas.Length < 3 * pixels || destination.Length < spec.ValuesPerImage)
            throw new ArgumentException($"canvas holds {bgrCanvas.Length} values and destination {destination.Length} values; {spec.Width}x{spec.Height}x3 needed");
        // Source channel for each output channel: the canvas is BGR.
        int c0 = spec.Order == ChannelOrder.Rgb ? 2 : 0, c2 = 2 - c0;
        float[] inverse = InverseStd(spec);
        var (s0, s1, s2) = (inverse[0], inverse[1], inverse[2]);
        var (m0, m1, m2) = (spec.Mean[0], spec.Mean[1], spec.Mean[2]);
        fixed (T* canvas = bgrCanvas)
        fixed (float* dst = destination)
        {
            T* src = canvas;
            if (spec.Layout == TensorLayout.Nhwc)
            {
                for (int p = 0; p < pixels; p++, src += 3)
                {
                    dst[3 * p] = (float.CreateTruncating(src[c0]) - m0) * s0;
                    dst[3 * p + 1] = (float.CreateTruncating(src[1]) - m1) * s1;
                    dst[3 * p + 2] = (float.CreateTruncating(src[c2]) - m2) * s2;
                }
            }
            else
            {
                float* plane1 = dst + pixels, plane2 = dst + 2 * pixels;
                for (int p = 0; p < pixels; p++, src += 3)
                {
                    dst[p] = (float.CreateTruncating(src[c0]) - m0) * s0;
                    plane1[p] = (float.CreateTruncating(src[1]) - m1) * s1;
                    plane2[p] = (float.CreateTruncating(src[c2]) - m2) * s2;
                }
            }
        }
    }

    /// <summary>1/std per channel, the factor both this CPU path and the graph multiply by, so they agree bit for bit.</summary>
    public static float[] InverseStd(InputSpec spec) => [1 / spec.Std[0], 1 / spec.Std[1], 1 / spec.Std[2]];
}
