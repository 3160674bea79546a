using ILGPU;

namespace MoeDetect.Kernels.Tensors;

public enum PoolMode { Max, Average, AverageIncludingPad }

/// <summary>Window pooling over NCHW (OutChannels = Channels) and reductions over a contiguous block of axes.</summary>
public static class PoolingKernels
{
    public static void Pool(Index1D i, ArrayView<float> x, ArrayView<float> y, WindowGeometry g, PoolMode mode)
    {
        int ox = i % g.OutWidth, t = i / g.OutWidth;
        int oy = t % g.OutHeight;
        y[i] = Window(x, g, t / g.OutHeight, oy, ox, mode);
    }

    /// <summary>CenterNet's peak test x · (x == MaxPool(x)) in one pass (the engine's fused MaxPool, Equal, Cast and
    /// Mul): each value where it is the maximum of its window, 0 elsewhere. The window keeps the size (stride 1,
    /// padded). NCHW out; <see cref="PeaksChannelsLast"/> writes NHWC.</summary>
    public static void Peaks(Index1D i, ArrayView<float> x, ArrayView<float> y, WindowGeometry g)
    {
        int ox = i % g.Width, t = i / g.Width;
        y[i] = Peak(x, g, t / g.Height, t % g.Height, ox);
    }

    /// <summary>Most pixels (and channels) a <see cref="PeaksChannelsLast"/> group takes: its shared tile's side.</summary>
    public const int PeakTileSide = 32;

    /// <summary><see cref="Peaks"/> written NHWC (a Transpose to channels-last fused too). A group of (side, rows) threads
    /// takes one image row's tile of side pixels × side channels: it reads along the pixels, turns the tile in shared
    /// memory and writes along the channels, so that both are whole runs; a thread per NCHW value wrote a warp's values
    /// a channel count apart (80 floats for CenterNet), a memory transaction each. Launch with groups (side ≤
    /// <see cref="PeakTileSide"/>, rows) over (⌈W / side⌉ · ⌈C / side⌉, N · H).</summary>
    public static void PeaksChannelsLast(ArrayView<float> x, ArrayView<float> y, WindowGeometry g)
    {
        const int stride = PeakTileSide + 1;   // a column of the tile spreads over all banks
        var tile = SharedMemory.Allocate<float>(PeakTileSide * stride);
        int side = Group.DimX, lane = Group.IdxX;
        int pixelTiles = (g.Width + side - 1) / side;
        int x0 = Grid.IdxX % pixelTiles * side, c0 = Grid.IdxX / pixelTiles * side;
        int row = Grid.IdxY, n = row / g.Height, oy = row - n * g.Height;
        for (int j = Group.IdxY; j < side; j += Group.DimY)
        {
            int c = c0 + j, ox = x0 + lane;
            if (c < g.Channels && ox < g.Width) tile[lane * stride + j] = Peak(x, g, n * g.Channels + c, oy, ox);
        }
        Group.Barrier();
        for (int j = Group.IdxY; j < side; j += Group.DimY)
        {
            int ox = x0 + j, c = c0 + lane;
            if (c < g.Channels && ox < g.Width) y[(row * g.Width + ox) * g.Channels + c] = tile[j * stride + lane];
        }
    }

    private static float Peak(ArrayView<float> x, WindowGeometry g, int plane, int oy, int ox)
    {
        float v = x[(plane * g.Height + oy) * g.Width + ox];
        return v * (v == Window(x, g, plane, oy, ox, PoolMode.Max) ? 1f : 0f);
    }

    /// <summary>The pooled value of the window of output (oy, ox) in <paramref name="plane"/> (image × channel); −∞
    /// padding for Max, padding counted or not for the averages.</summary>
    private static float Window(ArrayView<float> x, WindowGeometry g, int plane, int oy, int ox, PoolMode mode)
    {
        int rows = plane * g.Height;
        float acc = mode == PoolMode.Max ? float.NegativeInfinity : 0f;
        int count = 0;
        for (int ky = 0; ky < g.KernelHeight; ky++)
        {
            int iy = oy * g.StrideY - g.PadTop + ky * g.DilationY;
            for (int kx = 0; kx < g.KernelWidth; kx++)
            {
                int ix = ox * g.StrideX - g.PadLeft + kx * g.DilationX;
                bool inside = iy >= 0 && iy < g.Height && ix >= 0 && ix < g.Width;
                if (mode == PoolMode.AverageIncludingPad && iy < g.Height + g.PadTop && ix < g.Width + g.PadLeft) count++;
                if (!inside) continue;
                float v = x[(rows + iy) * g.Width + ix];
                if (mode == PoolMode.Max) acc = v > acc ? v : acc;
                else { acc += v; if (mode == PoolMode.Average) count++; }
            }
        }
        return mode == PoolMode.Max ? acc : acc / count;
    }

    /// <summary>x viewed as [outer, reduced, inner] → y [outer, inner]; one thread per output.</summary>
    public static void Reduce(Index1D i, ArrayView<float> x, ArrayView<float> y, int reduced, int inner, ReduceMode mode)
    {
        int o = i / inner, n = i % inner;
        int start = o * reduced * inner + n;
        float acc = mode == ReduceMode.Max ? float.NegativeInfinity : 0f;
        for (int r = 0; r < reduced; r++)
        {
            float v = x[start + r * inner];
            acc = mode == ReduceMode.Max ? (v > acc ? v : acc) : acc + v;
        }
        y[i] = mode == ReduceMode.Mean ? acc / reduced : acc;
    }

    /// <summary>Threads per group of <see cref="ReduceGrouped"/>: a power of two.</summary>
    public const int ReduceGroupSize = 256;

    /// <summary><see cref="Reduce"/> with a group per output block, for long reductions (the squeeze-excite global mean
    /// of a 64×64 plane: one thread looping over 4,096 values kept the GPU idle). A group holds <c>lanes</c> adjacent
    /// inner positions (1, or 32 where inner is wide) × the rest of its threads, which split the reduced axis; the
    /// partial results meet in a shared-memory tree. Grid: outer × ⌈inner / lanes⌉ groups.</summary>
    public static void ReduceGrouped(ArrayView<float> x, ArrayView<float> y, int reduced, int inner, int lanes, ReduceMode mode)
    {
        var partial = SharedMemory.Allocate<float>(ReduceGroupSize);
        int t = Group.IdxX, threads = Group.DimX, lane = t % lanes, slice = t / lanes, slices = threads / lanes;
        int blocksPerOuter = (inner + lanes - 1) / lanes;
        int o = Grid.IdxX / blocksPerOuter, n = Grid.IdxX % blocksPerOuter * lanes + lane;
        float acc = mode == ReduceMode.Max ? float.NegativeInfinity : 0f;
        if (n < inner)
        {
            long start = (long)o * reduced * inner + n;
            for (int r = slice; r < reduced; r += slices)
            {
                float v = x[start + (long)r * inner];
                acc = mode == ReduceMode.Max ? (v > acc ? v : acc) : acc + v;
            }
        }
        partial[t] = acc;
        Group.Barrier();
        // Halving strides stay multiples of lanes, so each sum joins values of the same inner position.
        for (int stride = threads / 2; stride >= lanes; stride /= 2)
        {
            if (t < stride)
            {
                float other = partial[t + stride];
                partial[t] = mode == ReduceMode.Max ? (other > partial[t] ? other : partial[t]) : partial[t] + other;
            }
            Group.Barrier();
        }
        if (slice == 0 && n < inner) y[(long)o * inner + n] = mode == ReduceMode.Mean ? partial[t] / reduced : partial[t];
    }
}

public enum ReduceMode { Mean, Sum, Max }
