using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Depthwise NCHW convolution (groups = channels = out channels): each thread computes <see cref="Span"/>
/// adjacent outputs of one row of one channel, so every weight is read once per thread and used for all of them,
/// and the index arithmetic of the direct kernel is paid once per <see cref="Span"/> outputs; at stride 1 (undilated)
/// each input value of the row is read once too. Any kernel size, stride, dilation and padding. Where
/// <see cref="WindowGeometry.ScalesInput"/> is 1 the input is taken times scale[n, c]: a per-channel factor of the
/// whole window, so it multiplies the window's sum once instead of every input value.</summary>
public static class DepthwiseConvolutionKernel
{
    public const int Span = 4;

    /// <summary>Threads to launch: one per <see cref="Span"/> outputs of each output row.</summary>
    public static int Threads(WindowGeometry g) => g.Batch * g.Channels * g.OutHeight * ((g.OutWidth + Span - 1) / Span);

    public static void Run(Index1D i, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        WindowGeometry g, Activation activation)
    {
        int blocks = (g.OutWidth + Span - 1) / Span;
        int block = i % blocks, t = i / blocks;
        int oy = t % g.OutHeight, plane = t / g.OutHeight, c = plane % g.Channels;
        int ox0 = block * Span;
        bool scaled = g.ScalesInput != 0;
        // Unscaled, the sum starts at the bias (as it always has); scaled, the bias is added after the scale.
        float b = bias[c], start = scaled ? 0f : b;
        Micro4 sum = new() { C0 = start, C1 = start, C2 = start, C3 = start };
        int iy0 = oy * g.StrideY - g.PadTop, ix0 = ox0 * g.StrideX - g.PadLeft;
        for (int ky = 0; ky < g.KernelHeight; ky++)
        {
            int iy = iy0 + ky * g.DilationY;
            if (iy < 0 || iy >= g.Height) continue;
            int row = (plane * g.Height + iy) * g.Width, wRow = (c * g.KernelHeight + ky) * g.KernelWidth;
            if (g.StrideX == 1 && g.DilationX == 1)
            {
                // The four outputs' windows overlap: slide along the row, reading each input value once
                // (KernelWidth + 3 reads instead of 4 · KernelWidth).
                float v0 = Read(x, row, ix0, g.Width), v1 = Read(x, row, ix0 + 1, g.Width), v2 = Read(x, row, ix0 + 2, g.Width), v3 = Read(x, row, ix0 + 3, g.Width);
                for (int kx = 0; kx < g.KernelWidth; kx++)
                {
                    sum.Add(w[wRow + kx], v0, v1, v2, v3);
                    v0 = v1;
                    v1 = v2;
                    v2 = v3;
                    v3 = kx + 1 < g.KernelWidth ? Read(x, row, ix0 + kx + 4, g.Width) : 0f;
                }
                continue;
            }
            for (int kx = 0; kx < g.KernelWidth; kx++)
            {
                int ix = ix0 + kx * g.DilationX;
                sum.Add(w[wRow + kx], Read(x, row, ix, g.Width), Read(x, row, ix + g.StrideX, g.Width),
                    Read(x, row, ix + 2 * g.StrideX, g.Width), Read(x, row, ix + 3 * g.StrideX, g.Width));
            }
        }
        if (scaled)
        {
            float s = scale[plane / g.Channels * g.ScaleImageStride + c];
            sum = new() { C0 = sum.C0 * s + b, C1 = sum.C1 * s + b, C2 = sum.C2 * s + b, C3 = sum.C3 * s + b };
        }
        int output = (plane * g.OutHeight + oy) * g.OutWidth + ox0;
        y[output] = ElementwiseKernels.Apply(sum.C0, activation);
        if (ox0 + 1 < g.OutWidth) y[output + 1] = ElementwiseKernels.Apply(sum.C1, activation);
        if (ox0 + 2 < g.OutWidth) y[output + 2] = ElementwiseKernels.Apply(sum.C2, activation);
        if (ox0 + 3 < g.OutWidth) y[output + 3] = ElementwiseKernels.Apply(sum.C3, activation);
    }

    /// <summary>x at (row, column), zero in the padding.</summary>
    private static float Read(ArrayView<float> x, int row, int column, int width) =>
        column >= 0 && column < width ? x[row + column] : 0f;
}
