using ILGPU;
using ILGPU.Runtime;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Depthwise NCHW convolution (groups = channels = out channels): each thread computes <see cref="Span"/>
/// adjacent outputs of one row of one channel, so every weight is read once per thread and used for all of them,
/// and the index arithmetic of the direct kernel is paid once per <see cref="Span"/> outputs; in the written-out rows
/// (<see cref="AddRow"/>) each input value of the row is read once too. Any kernel size, stride, dilation and padding. Where
/// <see cref="WindowGeometry.ScalesInput"/> is 1 the input is taken times scale[n, c]: a per-channel factor of the
/// whole window, so it multiplies the window's sum once instead of every input value.</summary>
public static class DepthwiseConvolutionKernel
{
    public const int Span = 4;

    /// <summary>Threads to launch: one per <see cref="Span"/> outputs of each output row.</summary>
    public static int Threads(WindowGeometry g) => g.Batch * g.Channels * g.OutHeight * ((g.OutWidth + Span - 1) / Span);

    /// <summary>The kernel is compiled once per <paramref name="window"/> (ILGPU specialises it on the value: a model has
    /// a handful, 3×3 and 5×5 at strides 1 and 2), so that its sizes and strides are constants. Rows of such windows are
    /// written out (<see cref="AddRow"/>); others loop over the window's columns.</summary>
    public static void Run(Index1D i, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        WindowGeometry g, Activation activation, SpecializedValue<DepthwiseWindow> window, SpecializedValue<FusedFunction> function)
    {
        var k = window.Value;
        activation = function.Value.Of(activation);
        int blocks = (g.OutWidth + Span - 1) / Span;
        int block = i % blocks, t = i / blocks;
        int oy = t % g.OutHeight, plane = t / g.OutHeight, c = plane % g.Channels;
        int ox0 = block * Span;
        bool scaled = g.ScalesInput != 0;
        // Unscaled, the sum starts at the bias (as it always has); scaled, the bias is added after the scale.
        float b = bias[c], start = scaled ? 0f : b;
        var sum = Micro4.Of(start);
        int iy0 = oy * k.StrideY - g.PadTop, ix0 = ox0 * k.StrideX - g.PadLeft;
        for (int ky = 0; ky < k.KernelHeight; ky++)
        {
            int iy = iy0 + ky * k.DilationY;
            if (iy < 0 || iy >= g.Height) continue;
            int row = (plane * g.Height + iy) * g.Width, wRow = (c * k.KernelHeight + ky) * k.KernelWidth;
            if (WrittenOut(k))
            {
                sum = AddRow(sum, x, w, row, wRow, ix0, g.Width, k.KernelWidth, k.StrideX);
                continue;
            }
            for (int kx = 0; kx < k.KernelWidth; kx++)
            {
                int ix = ix0 + kx * k.DilationX;
                sum.Add(w[wRow + kx], Read(x, row, ix, g.Width), Read(x, row, ix + k.StrideX, g.Width),
                    Read(x, row, ix + 2 * k.StrideX, g.Width), Read(x, row, ix + 3 * k.StrideX, g.Width));
            }
        }
        if (scaled) sum = sum.Affine(scale[plane / g.Channels * g.ScaleImageStride + c], b);
        var v = sum.Activated(activation);
        int output = (plane * g.OutHeight + oy) * g.OutWidth + ox0;
        y[output] = v.C0;
        if (ox0 + 1 < g.OutWidth) y[output + 1] = v.C1;
        if (ox0 + 2 < g.OutWidth) y[output + 2] = v.C2;
        if (ox0 + 3 < g.OutWidth) y[output + 3] = v.C3;
    }

    /// <summary>Undilated windows up to this wide at stride 1 or 2 take <see cref="AddRow"/>.</summary>
    private const int MaxWrittenOutWidth = 5;

    private static bool WrittenOut(DepthwiseWindow k) => k.DilationX == 1 && k.KernelWidth <= MaxWrittenOutWidth && k.StrideX <= 2;

    /// <summary>One window row of the four outputs, written out for <paramref name="width"/> ≤ 5 and
    /// <paramref name="stride"/> 1 or 2 (constants in a specialised kernel, so the conditions fold away): every input
    /// value the four windows span (3 · stride + width of them) and the row's weights are loaded first, each once, as
    /// independent loads in flight together; ILGPU does not unroll loops, and in a loop each load waited for the one
    /// before. The sums are those of the loop, in the same order.</summary>
    private static Micro4 AddRow(Micro4 sum, ArrayView<float> x, ArrayView<float> w, int row, int wRow, int ix0, int rowWidth, int width, int stride)
    {
        int span = 3 * stride + width;
        float v0 = Read(x, row, ix0, rowWidth), v1 = Read(x, row, ix0 + 1, rowWidth), v2 = Read(x, row, ix0 + 2, rowWidth);
        float v3 = span > 3 ? Read(x, row, ix0 + 3, rowWidth) : 0f, v4 = span > 4 ? Read(x, row, ix0 + 4, rowWidth) : 0f;
        float v5 = span > 5 ? Read(x, row, ix0 + 5, rowWidth) : 0f, v6 = span > 6 ? Read(x, row, ix0 + 6, rowWidth) : 0f;
        float v7 = span > 7 ? Read(x, row, ix0 + 7, rowWidth) : 0f, v8 = span > 8 ? Read(x, row, ix0 + 8, rowWidth) : 0f;
        float v9 = span > 9 ? Read(x, row, ix0 + 9, rowWidth) : 0f, v10 = span > 10 ? Read(x, row, ix0 + 10, rowWidth) : 0f;
        float w0 = w[wRow], w1 = width > 1 ? w[wRow + 1] : 0f, w2 = width > 2 ? w[wRow + 2] : 0f;
        float w3 = width > 3 ? w[wRow + 3] : 0f, w4 = width > 4 ? w[wRow + 4] : 0f;
        if (stride == 1)
        {
            sum.Add(w0, v0, v1, v2, v3);
            if (width > 1) sum.Add(w1, v1, v2, v3, v4);
            if (width > 2) sum.Add(w2, v2, v3, v4, v5);
            if (width > 3) sum.Add(w3, v3, v4, v5, v6);
            if (width > 4) sum.Add(w4, v4, v5, v6, v7);
            return sum;
        }
        sum.Add(w0, v0, v2, v4, v6);
        if (width > 1) sum.Add(w1, v1, v3, v5, v7);
        if (width > 2) sum.Add(w2, v2, v4, v6, v8);
        if (width > 3) sum.Add(w3, v3, v5, v7, v9);
        if (width > 4) sum.Add(w4, v4, v6, v8, v10);
        return sum;
    }

    /// <summary>x at (row, column), zero in the padding.</summary>
    private static float Read(ArrayView<float> x, int row, int column, int width) =>
        column >= 0 && column < width ? x[row + column] : 0f;
}

/// <summary>The window of a depthwise convolution, which <see cref="DepthwiseConvolutionKernel"/> is compiled for.</summary>
public readonly record struct DepthwiseWindow(int KernelHeight, int KernelWidth, int StrideY, int StrideX, int DilationY, int DilationX)
{
    public static DepthwiseWindow Of(WindowGeometry g) => new(g.KernelHeight, g.KernelWidth, g.StrideY, g.StrideX, g.DilationY, g.DilationX);
}
