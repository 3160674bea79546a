using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Geometry of a 2-D convolution or pooling window over an NCHW tensor.</summary>
public struct WindowGeometry
{
    public int Batch, Channels, Height, Width;
    public int OutChannels, OutHeight, OutWidth;
    public int KernelHeight, KernelWidth, StrideY, StrideX, PadTop, PadLeft, DilationY, DilationX, Groups;
    /// <summary>Depthwise only: 1 where the input is multiplied by a per-channel scale [N or 1, C] (a squeeze-excite
    /// gate fused at load), <see cref="ScaleImageStride"/> C or 0 between images.</summary>
    public int ScalesInput, ScaleImageStride;
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
        y[i] = ElementwiseKernels.ApplyFused(sum, activation);
    }
}

/// <summary>Ungrouped direct convolution, one thread per output pixel and block of <see cref="OutBlock"/> output
/// channels: each input value of the window is read once for the whole block instead of once per output channel,
/// and the index arithmetic is shared too (the 3×3 stem, YOLO's 3×3 convolutions). Needs OutChannels to be a multiple
/// of the block. Adjacent threads take adjacent output pixels of the same block, so their weight reads coincide.</summary>
public static class BlockedConvolutionKernel
{
    public const int OutBlock = 8;

    /// <summary>Fewer threads than this (about two 128-thread groups per multiprocessor of an H100) and the blocks'
    /// longer loops leave the GPU idle: on the H100, YOLOv8n's 3×3 layers at batch 1 took 0.69 ms blocked against
    /// 0.42 direct at 20 × 20 pixels (4,000 threads) and 0.34 against ≤ 0.22 at 40 × 40 (16,000), but 0.22 against 0.34
    /// at 80 × 80 (51,200); CenterNet's stem at batch 1 (131,072) 0.022 against 0.043.</summary>
    public const int MinThreads = 1 << 15;

    /// <summary>Whether the blocked kernel takes g: ungrouped, output channels in whole blocks, enough threads.</summary>
    public static bool Fits(WindowGeometry g) => g.Groups == 1 && g.OutChannels % OutBlock == 0 && Threads(g) >= MinThreads;

    public static int Threads(WindowGeometry g) => g.Batch * (g.OutChannels / OutBlock) * g.OutHeight * g.OutWidth;

    public static void Run(Index1D i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        WindowGeometry g, Activation activation)
    {
        int ox = i % g.OutWidth, t = i / g.OutWidth;
        int oy = t % g.OutHeight; t /= g.OutHeight;
        int blocks = g.OutChannels / OutBlock;
        int oc = t % blocks * OutBlock, n = t / blocks;
        // Weights are [OutChannels, Channels, KH, KW]: the block's channels lie one filter apart.
        int filter = g.Channels * g.KernelHeight * g.KernelWidth;
        float s0 = bias[oc], s1 = bias[oc + 1], s2 = bias[oc + 2], s3 = bias[oc + 3];
        float s4 = bias[oc + 4], s5 = bias[oc + 5], s6 = bias[oc + 6], s7 = bias[oc + 7];
        int iy0 = oy * g.StrideY - g.PadTop, ix0 = ox * g.StrideX - g.PadLeft;
        for (int c = 0; c < g.Channels; c++)
        {
            int plane = (n * g.Channels + c) * g.Height;
            for (int ky = 0; ky < g.KernelHeight; ky++)
            {
                int iy = iy0 + ky * g.DilationY;
                if (iy < 0 || iy >= g.Height) continue;
                int row = (plane + iy) * g.Width, tap = ((oc * g.Channels + c) * g.KernelHeight + ky) * g.KernelWidth;
                for (int kx = 0; kx < g.KernelWidth; kx++)
                {
                    int ix = ix0 + kx * g.DilationX;
                    if (ix < 0 || ix >= g.Width) continue;
                    float v = x[row + ix];
                    int at = tap + kx;
                    s0 += v * w[at];
                    s1 += v * w[at + filter];
                    s2 += v * w[at + 2 * filter];
                    s3 += v * w[at + 3 * filter];
                    s4 += v * w[at + 4 * filter];
                    s5 += v * w[at + 5 * filter];
                    s6 += v * w[at + 6 * filter];
                    s7 += v * w[at + 7 * filter];
                }
            }
        }
        int planeSize = g.OutHeight * g.OutWidth;
        int o = ((n * g.OutChannels + oc) * g.OutHeight + oy) * g.OutWidth + ox;
        y[o] = ElementwiseKernels.ApplyFused(s0, activation);
        y[o + planeSize] = ElementwiseKernels.ApplyFused(s1, activation);
        y[o + 2 * planeSize] = ElementwiseKernels.ApplyFused(s2, activation);
        y[o + 3 * planeSize] = ElementwiseKernels.ApplyFused(s3, activation);
        y[o + 4 * planeSize] = ElementwiseKernels.ApplyFused(s4, activation);
        y[o + 5 * planeSize] = ElementwiseKernels.ApplyFused(s5, activation);
        y[o + 6 * planeSize] = ElementwiseKernels.ApplyFused(s6, activation);
        y[o + 7 * planeSize] = ElementwiseKernels.ApplyFused(s7, activation);
    }
}
