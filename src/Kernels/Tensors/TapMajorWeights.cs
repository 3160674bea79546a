namespace MoeDetect.Kernels.Tensors;

/// <summary>Convolution weights [out channels, channels, taps] (ONNX's order, taps = kernel height × width) reordered
/// [out channels, taps, channels], the reduction order of a tap-major GEMM (<see cref="PointwiseGeometry.TapMajor"/>).
/// Done once, when a plan is built.</summary>
public static class TapMajorWeights
{
    public static T[] From<T>(ReadOnlySpan<T> w, int outChannels, int channels, int taps)
    {
        if (w.Length != (long)outChannels * channels * taps)
            throw new ArgumentException($"{w.Length} weights for {outChannels} × {channels} × {taps}", nameof(w));
        var permuted = new T[w.Length];
        for (int m = 0; m < outChannels; m++)
            for (int c = 0; c < channels; c++)
                for (int tap = 0; tap < taps; tap++)
                    permuted[((long)m * taps + tap) * channels + c] = w[(int)(((long)m * channels + c) * taps + tap)];
        return permuted;
    }
}
