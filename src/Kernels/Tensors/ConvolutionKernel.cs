using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Geometry of a 2-D convolution or pooling window over an NCHW tensor.</summary>
public struct WindowGeometry
{
    public int Batch, Channels, Height, Width;
    public int OutChannels, OutHeight, OutWidth;
    public int KernelHeight, KernelWidth, StrideY, StrideX, PadTop, PadLeft, DilationY, DilationX, Groups;
}

/// <summary>Direct NCHW convolution, one thread per output value, with bias and a fused activation.
/// Weights are [OutChannels, Channels/Groups, KH, KW]; grouped and depthwise convolutions are the same loop.</summary>
public static class ConvolutionKernel
{
    public static void Run(Index1D i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        WindowGeometry g, Activation activation)
    {
        int ox = i % g.OutWidth, t = i / g.OutWidth;
        int oy = t % g.OutHeight; t /= g.OutHeight;
        int oc = t % g.OutChannels, n = t / g.OutChannels;
        int perGroup = g.Channels / g.Groups, outPerGroup = g.OutChannels / g.Groups;
        int firstChannel = oc / outPerGroup * perGroup;
        float sum = bias[oc];
        int iy0 = oy * g.StrideY - g.PadTop, ix0 = ox * g.StrideX - g.PadLeft;
        for (int c = 0; c < perGroup; c++)
        {
            int plane = (n * g.Channels + firstChannel + c) * g.Height;
            int wBase = (oc * perGroup + c) * g.KernelHeight;
            for (int ky = 0; ky < g.KernelHeight; ky++)
            {
                int iy = iy0 + ky * g.DilationY;
                if (iy < 0 || iy >= g.Height) continue;
                int row = (plane + iy) * g.Width, wRow = (wBase + ky) * g.KernelWidth;
                for (int kx = 0; kx < g.KernelWidth; kx++)
                {
                    int ix = ix0 + kx * g.DilationX;
                    if (ix < 0 || ix >= g.Width) continue;
                    sum += x[row + ix] * w[wRow + kx];
                }
            }
        }
        y[i] = ElementwiseKernels.Apply(sum, activation);
    }
}
