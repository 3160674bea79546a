using ILGPU;
using ILGPU.Runtime;

namespace MoeDetect.Kernels.Tensors;

/// <summary>What <see cref="DepthwiseRowsKernel"/> is compiled for (ILGPU specialises it on the value, so that these
/// are constants and every condition on them folds away): the window, its left padding, which fixes where a thread's
/// first window starts in its 16-byte loads, and the output rows a thread computes (1, 2 or 4).</summary>
public readonly record struct DepthwiseRowsWindow(int KernelHeight, int KernelWidth, int StrideY, int StrideX, int PadLeft, int Rows)
{
    public static DepthwiseRowsWindow Of(WindowGeometry g, int rows) => new(g.KernelHeight, g.KernelWidth, g.StrideY, g.StrideX, g.PadLeft, rows);

    /// <summary>Where the first output's window starts among the values a thread loads of an input row: the loads start
    /// <see cref="DepthwiseRowsKernel.Columns"/> values left of the first output's column × stride.</summary>
    public int First => DepthwiseRowsKernel.Columns - PadLeft;

    /// <summary>The thread's 16-byte loads of a row that hold values its four windows read (of 0 to 3).</summary>
    public int FirstLoad => First / DepthwiseRowsKernel.Columns;
    public int LastLoad => (First + 3 * StrideX + KernelWidth - 1) / DepthwiseRowsKernel.Columns;
}

/// <summary>Depthwise NCHW convolution, each thread 4 adjacent outputs of <see cref="DepthwiseRowsWindow.Rows"/> rows of
/// one channel, with 16-byte loads and stores. <see cref="DepthwiseConvolutionKernel"/> reads its window's input values
/// one float at a time, each thread 4 floats from the next, and reads every input row once per output row that needs
/// it (3 or 5 times): its loads, not DRAM, bounded it on the H100 (1.4 TB/s on CenterNet's 3 × 3 layers). Here a
/// thread reads an input row once for all its output rows, as three or four aligned 16-byte loads, the row's zeros in
/// the padding coming from whole loads outside it (the width is a multiple of 4); its outputs leave as one 16-byte store a row.
/// The sums are <see cref="DepthwiseConvolutionKernel"/>'s, in the same order (kernel rows, then columns), so the two
/// agree exactly. Takes undilated windows up to 5 wide at strides 1 and 2 (<see cref="Fits"/>); x and y must be 16-byte
/// aligned.</summary>
public static class DepthwiseRowsKernel
{
    /// <summary>Adjacent outputs a thread computes in a row: one 16-byte store.</summary>
    public const int Columns = 4;

    /// <summary>About the threads an H100 holds at once (132 multiprocessors × 2048): a thread takes more rows only where
    /// the layer still has this many threads.</summary>
    private const long FullDeviceThreads = 128L * 2048;

    public static bool Fits(WindowGeometry g) =>
        g.DilationX == 1 && g.DilationY == 1 && g.KernelWidth <= 5 && g.StrideX is 1 or 2 && g.PadLeft is >= 0 and <= Columns
        && g.Width % Columns == 0 && g.OutWidth % Columns == 0;

    /// <summary>4 rows a thread where the layer keeps a GPU full with them, else 2, else 1.</summary>
    public static int RowsFor(WindowGeometry g) =>
        Threads(g, 4) >= FullDeviceThreads ? 4 : Threads(g, 2) >= FullDeviceThreads ? 2 : 1;

    /// <summary>Threads to launch: one per 4 columns × <paramref name="rows"/> rows of each plane's output.</summary>
    public static int Threads(WindowGeometry g, int rows) =>
        checked(g.Batch * g.Channels * ((g.OutHeight + rows - 1) / rows) * (g.OutWidth / Columns));

    public static void Run(Index1D i, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        WindowGeometry g, Activation activation, SpecializedValue<DepthwiseRowsWindow> window, SpecializedValue<FusedFunction> function)
    {
        var k = window.Value;
        activation = function.Value.Of(activation);
        var x4 = x.AsAligned(16).Cast<Micro4>();
        int quadsIn = g.Width / Columns, quadsOut = g.OutWidth / Columns, rowBlocks = (g.OutHeight + k.Rows - 1) / k.Rows;
        int column = i % quadsOut, t = i / quadsOut;
        int oy0 = t % rowBlocks * k.Rows, plane = t / rowBlocks, c = plane % g.Channels;
        bool scaled = g.ScalesInput != 0;
        // As DepthwiseConvolutionKernel: unscaled, the sum starts at the bias; scaled, the bias comes after the scale.
        float b = bias[c], start = scaled ? 0f : b;
        Micro4 s0 = Micro4.Of(start), s1 = s0, s2 = s0, s3 = s0;
        int wBase = c * k.KernelHeight * k.KernelWidth, iyTop = oy0 * k.StrideY - g.PadTop;
        // The thread's loads of a row start a load left of its first output's column × stride (the padding is at most that).
        int firstQuad = column * k.StrideX - 1;
        long planeQuads = (long)plane * g.Height * quadsIn;
        for (int r = 0; r < (k.Rows - 1) * k.StrideY + k.KernelHeight; r++)
        {
            int iy = iyTop + r;
            if (iy < 0 || iy >= g.Height) continue;
            var line = InputLine.Load(x4, planeQuads + (long)iy * quadsIn, firstQuad, quadsIn, k);
            s0 = Accumulate(s0, line, w, wBase, r, k);
            if (k.Rows > 1) s1 = Accumulate(s1, line, w, wBase, r - k.StrideY, k);
            if (k.Rows > 2)
            {
                s2 = Accumulate(s2, line, w, wBase, r - 2 * k.StrideY, k);
                s3 = Accumulate(s3, line, w, wBase, r - 3 * k.StrideY, k);
            }
        }
        float factor = scaled ? scale[plane / g.Channels * g.ScaleImageStride + c] : 1f;
        var y4 = y.AsAligned(16).Cast<Micro4>();
        long outRow = ((long)plane * g.OutHeight + oy0) * quadsOut + column;
        Store(y4, outRow, s0, scaled, factor, b, activation);
        if (k.Rows > 1 && oy0 + 1 < g.OutHeight) Store(y4, outRow + quadsOut, s1, scaled, factor, b, activation);
        if (k.Rows > 2 && oy0 + 2 < g.OutHeight) Store(y4, outRow + 2 * quadsOut, s2, scaled, factor, b, activation);
        if (k.Rows > 2 && oy0 + 3 < g.OutHeight) Store(y4, outRow + 3 * quadsOut, s3, scaled, factor, b, activation);
    }

    /// <summary>Kernel row <paramref name="ky"/> of the window applied to one input row, where the window has that row.</summary>
    private static Micro4 Accumulate(Micro4 sum, InputLine line, ArrayView<float> w, int wBase, int ky, DepthwiseRowsWindow k)
    {
        if (ky < 0 || ky >= k.KernelHeight) return sum;
        int wRow = wBase + ky * k.KernelWidth, f = k.First, s = k.StrideX;
        // Written out, as ILGPU does not unroll loops; the conditions on the specialised width fold away.
        sum.Add(w[wRow], line.At(f), line.At(f + s), line.At(f + 2 * s), line.At(f + 3 * s));
        if (k.KernelWidth > 1) sum.Add(w[wRow + 1], line.At(f + 1), line.At(f + 1 + s), line.At(f + 1 + 2 * s), line.At(f + 1 + 3 * s));
        if (k.KernelWidth > 2) sum.Add(w[wRow + 2], line.At(f + 2), line.At(f + 2 + s), line.At(f + 2 + 2 * s), line.At(f + 2 + 3 * s));
        if (k.KernelWidth > 3) sum.Add(w[wRow + 3], line.At(f + 3), line.At(f + 3 + s), line.At(f + 3 + 2 * s), line.At(f + 3 + 3 * s));
        if (k.KernelWidth > 4) sum.Add(w[wRow + 4], line.At(f + 4), line.At(f + 4 + s), line.At(f + 4 + 2 * s), line.At(f + 4 + 3 * s));
        return sum;
    }

    private static void Store(ArrayView<Micro4> y4, long at, Micro4 sum, bool scaled, float factor, float bias, Activation activation) =>
        y4[at] = (scaled ? sum.Affine(factor, bias) : sum).Activated(activation);

    /// <summary>A thread's values of one input row: up to four 16-byte loads, zero where a load lies outside the row
    /// (the padding) or holds nothing the windows read.</summary>
    private readonly struct InputLine
    {
        private readonly Micro4 _q0, _q1, _q2, _q3;

        private InputLine(Micro4 q0, Micro4 q1, Micro4 q2, Micro4 q3) => (_q0, _q1, _q2, _q3) = (q0, q1, q2, q3);

        public static InputLine Load(ArrayView<Micro4> x4, long rowQuads, int firstQuad, int quadsIn, DepthwiseRowsWindow k) => new(
            Quad(x4, rowQuads, firstQuad, quadsIn, k, 0), Quad(x4, rowQuads, firstQuad + 1, quadsIn, k, 1),
            Quad(x4, rowQuads, firstQuad + 2, quadsIn, k, 2), Quad(x4, rowQuads, firstQuad + 3, quadsIn, k, 3));

        private static Micro4 Quad(ArrayView<Micro4> x4, long rowQuads, int quad, int quadsIn, DepthwiseRowsWindow k, int load) =>
            load >= k.FirstLoad && load <= k.LastLoad && quad >= 0 && quad < quadsIn ? x4[rowQuads + quad] : default;

        /// <summary>Value <paramref name="i"/> (0 to 15) of the loads: a constant in the specialised kernel, so the
        /// choice folds to one register.</summary>
        public float At(int i)
        {
            var q = i < 4 ? _q0 : i < 8 ? _q1 : i < 12 ? _q2 : _q3;
            int lane = i % 4;
            return lane == 0 ? q.C0 : lane == 1 ? q.C1 : lane == 2 ? q.C2 : q.C3;
        }
    }
}
