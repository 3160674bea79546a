using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>A 1×1, stride-1, ungrouped convolution over NCHW as one GEMM per image:
/// y[n] (OutChannels × Pixels) = w (OutChannels × Channels) · x[n] (Channels × Pixels), plus bias and activation, plus
/// a residual of y's shape when <see cref="AddsResidual"/> is 1 (the skip connection after a projection). x is
/// multiplied by a per-channel scale as it is loaded when <see cref="ScalesInput"/> is 1 (a squeeze-excite gate,
/// [N or 1, C]: <see cref="ScaleImageStride"/> C or 0). With <see cref="Slices"/> &gt; 1 the tiled GEMM splits the
/// channels into slices of <see cref="SliceChannels"/> (split-K, <see cref="PointwiseConvolutionKernel.SplitK"/>).</summary>
public struct PointwiseGeometry
{
    public int Batch, Channels, OutChannels, Pixels, AddsResidual, ScalesInput, ScaleImageStride, Slices, SliceChannels;

    public readonly double Flops => 2.0 * Batch * OutChannels * Channels * Pixels;
}

/// <summary>Shared-memory tiled SIMT GEMM for pointwise convolutions. Grid (pixel tiles, out-channel tiles,
/// batch × slices); a group of (dx, dy) threads (at most 16 × 16) owns a (4·dy) × (4·dx) output tile and each thread a
/// 4 × 4 micro-tile strided by the group size, so shared-memory reads and global stores are consecutive across threads.
/// Any group shape works: 16 × 16 on a GPU (64 × 64 tiles), the CPU accelerator's 2 × 1. Split (Grid.IdxZ = image ·
/// slices + slice), each group sums its slice of the channels only and stores it raw into the partials
/// [slices, batch, out channels, pixels]; <see cref="SumSlices"/> adds them up and applies the epilogue.</summary>
public static class PointwiseConvolutionKernel
{
    public const int MaxGroupSide = 16;
    private const int Micro = 4, MaxTile = Micro * MaxGroupSide, KTile = 16;

    /// <summary>Split-K only for reductions at least this long, into slices of at least this many k-tiles.</summary>
    private const int MinSplitChannels = 128, MinSliceTiles = 3;

    /// <summary>Output tile sides for a group of (dx, dy) threads: pixels, out channels.</summary>
    public static (int Pixels, int OutChannels) Tile(int dx, int dy) => (Micro * dx, Micro * dy);

    /// <summary>g with its split-K slices for a device of <paramref name="multiprocessors"/>: where the GPU's 64 × 64
    /// output tiles give fewer than two groups per multiprocessor (720 → 120 channels at 16 × 16 pixels: 8 groups on
    /// an H100's 132) and the reduction is long, the channels are cut into slices so that groups × slices comes near
    /// three per multiprocessor, each slice a whole number of k-tiles and at least <see cref="MinSliceTiles"/> of
    /// them (that layer: 15 slices of 48 channels, 120 groups). Otherwise one slice of all channels.</summary>
    public static PointwiseGeometry SplitK(PointwiseGeometry g, int multiprocessors)
    {
        long tiles = (long)Ceiling(g.Pixels, MaxTile) * Ceiling(g.OutChannels, MaxTile) * g.Batch;
        int kTiles = Ceiling(g.Channels, KTile);
        int slices = g.Channels < MinSplitChannels || tiles >= 2L * multiprocessors ? 1
            : (int)Math.Min(Ceiling(3L * multiprocessors, tiles), kTiles / MinSliceTiles);
        if (slices < 2) return g with { Slices = 1, SliceChannels = g.Channels };
        int sliceTiles = Ceiling(kTiles, slices);
        // Even slices of whole k-tiles; the last one takes the remainder.
        return g with { Slices = Ceiling(kTiles, sliceTiles), SliceChannels = sliceTiles * KTile };
    }

    private static int Ceiling(long a, long b) => (int)((a + b - 1) / b);

    public static void Run(ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual,
        ArrayView<float> y, PointwiseGeometry g, Activation activation)
    {
        // k-major tiles: the inner loop reads one row of each, the same address for a row of threads (broadcast).
        var wTile = SharedMemory.Allocate<float>(KTile * MaxTile);
        var xTile = SharedMemory.Allocate<float>(KTile * MaxTile);
        int tx = Group.IdxX, ty = Group.IdxY, dx = Group.DimX, dy = Group.DimY;
        int threads = dx * dy, t = ty * dx + tx;
        int tileM = Micro * dy, tileN = Micro * dx;
        int m0 = Grid.IdxY * tileM, p0 = Grid.IdxX * tileN, n = Grid.IdxZ / g.Slices, slice = Grid.IdxZ % g.Slices;
        int kBegin = slice * g.SliceChannels, kEnd = Math.Min(g.Channels, kBegin + g.SliceChannels);
        var input = new PointwiseInput(x, scale, g, n);
        Micro4 r0 = default, r1 = default, r2 = default, r3 = default;
        for (int k0 = kBegin; k0 < kEnd; k0 += KTile)
        {
            for (int i = t; i < tileM * KTile; i += threads)
            {
                int m = i / KTile, k = i % KTile;
                bool inside = m0 + m < g.OutChannels && k0 + k < kEnd;
                wTile[k * tileM + m] = inside ? w[(m0 + m) * g.Channels + k0 + k] : 0f;
            }
            for (int i = t; i < tileN * KTile; i += threads)
            {
                int k = i / tileN, p = i % tileN;
                bool inside = p0 + p < g.Pixels && k0 + k < kEnd;
                xTile[k * tileN + p] = inside ? input.Load(k0 + k, p0 + p) : 0f;
            }
            Group.Barrier();
            for (int k = 0; k < KTile; k++)
            {
                int xRow = k * tileN + tx, wRow = k * tileM + ty;
                float x0 = xTile[xRow], x1 = xTile[xRow + dx], x2 = xTile[xRow + 2 * dx], x3 = xTile[xRow + 3 * dx];
                r0.Add(wTile[wRow], x0, x1, x2, x3);
                r1.Add(wTile[wRow + dy], x0, x1, x2, x3);
                r2.Add(wTile[wRow + 2 * dy], x0, x1, x2, x3);
                r3.Add(wTile[wRow + 3 * dy], x0, x1, x2, x3);
            }
            Group.Barrier();
        }
        // Split, y is the partials and image slice · batch + n of them takes the raw sums.
        bool partial = g.Slices > 1;
        var output = new PointwiseOutput(y, bias, residual, g, partial ? slice * g.Batch + n : n, activation, partial);
        int p1 = p0 + tx;
        output.Store(m0 + ty, p1, dx, r0);
        output.Store(m0 + ty + dy, p1, dx, r1);
        output.Store(m0 + ty + 2 * dy, p1, dx, r2);
        output.Store(m0 + ty + 3 * dy, p1, dx, r3);
    }

    /// <summary>The second half of a split GEMM, a thread per output: the slices' partial sums added in slice order
    /// (deterministic, no atomics), then bias, activation and residual.</summary>
    public static void SumSlices(Index1D index, ArrayView<float> partials, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y,
        PointwiseGeometry g, Activation activation)
    {
        int i = index;
        long outputs = (long)g.Batch * g.OutChannels * g.Pixels;
        float sum = 0;
        for (int s = 0; s < g.Slices; s++) sum += partials[s * outputs + i];
        int pixel = i % g.Pixels, row = i / g.Pixels;
        new PointwiseOutput(y, bias, residual, g, row / g.OutChannels, activation, partial: false).Store(row % g.OutChannels, pixel, sum);
    }
}

/// <summary>Pointwise convolutions over few pixels (the squeeze-excite FCs run on 1×1): one warp per output value, its
/// lanes splitting the channels and summing with shuffles. The tiled GEMM gives such a layer a handful of groups with
/// all but one of their 64 pixel columns idle (0.13 ms for a 720 → 184 FC on the H100). Groups of (warp size, warps).</summary>
public static class PointwiseWarpKernel
{
    /// <summary>Layers with at most this many pixels per image take this kernel.</summary>
    public const int MaxPixels = 4;

    public static void Run(ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual,
        ArrayView<float> y, PointwiseGeometry g, Activation activation)
    {
        // Uniform across the warp (it depends on the warp's row in the group only), so whole warps leave together.
        long value = (long)Grid.IdxX * Group.DimY + Group.IdxY;
        if (value >= (long)g.Batch * g.OutChannels * g.Pixels) return;
        int pixel = (int)(value % g.Pixels), outChannel = (int)(value / g.Pixels % g.OutChannels), n = (int)(value / g.Pixels / g.OutChannels);
        var input = new PointwiseInput(x, scale, g, n);
        float sum = 0;
        for (int c = Group.IdxX; c < g.Channels; c += Group.DimX) sum += w[(long)outChannel * g.Channels + c] * input.Load(c, pixel);
        for (int offset = Group.DimX / 2; offset > 0; offset /= 2) sum += Warp.ShuffleDown(sum, offset);
        if (Group.IdxX == 0) new PointwiseOutput(y, bias, residual, g, n, activation, partial: false).Store(outChannel, pixel, sum);
    }
}

/// <summary>Four FP32 accumulators of one output row (plain fields, so they stay in registers).</summary>
public struct Micro4
{
    public float C0, C1, C2, C3;

    public void Add(float w, float x0, float x1, float x2, float x3)
    {
        C0 += w * x0;
        C1 += w * x1;
        C2 += w * x2;
        C3 += w * x3;
    }
}

/// <summary>x[n] as the pointwise GEMMs load it: times scale[n, channel] where <see cref="PointwiseGeometry.ScalesInput"/>
/// is 1 (a squeeze-excite gate, so that the gated tensor is never written).</summary>
public readonly struct PointwiseInput(ArrayView<float> x, ArrayView<float> scale, PointwiseGeometry g, int n)
{
    public float Load(int channel, int pixel)
    {
        float v = x[((long)n * g.Channels + channel) * g.Pixels + pixel];
        return g.ScalesInput != 0 ? v * scale[(long)n * g.ScaleImageStride + channel] : v;
    }
}

/// <summary>The pointwise GEMM epilogue: bias, activation, the residual where there is one, and a bounds-checked store
/// into y[n, outChannel, pixel]; a <paramref name="partial"/> output (a split-K slice) stores the raw sum.</summary>
public readonly struct PointwiseOutput(ArrayView<float> y, ArrayView<float> bias, ArrayView<float> residual, PointwiseGeometry g, int n,
    Activation activation, bool partial)
{
    public void Store(int outChannel, int pixel, float value)
    {
        if (outChannel >= g.OutChannels || pixel >= g.Pixels) return;
        long at = ((long)n * g.OutChannels + outChannel) * g.Pixels + pixel;
        if (partial)
        {
            y[at] = value;
            return;
        }
        float v = ElementwiseKernels.Apply(value + bias[outChannel], activation);
        y[at] = g.AddsResidual != 0 ? v + residual[at] : v;
    }

    /// <summary>Stores four outputs of one row at pixel, pixel + step, pixel + 2·step, pixel + 3·step.</summary>
    public void Store(int outChannel, int pixel, int step, Micro4 r)
    {
        Store(outChannel, pixel, r.C0);
        Store(outChannel, pixel + step, r.C1);
        Store(outChannel, pixel + 2 * step, r.C2);
        Store(outChannel, pixel + 3 * step, r.C3);
    }
}
