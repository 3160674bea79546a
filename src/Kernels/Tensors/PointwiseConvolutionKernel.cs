using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>A 1×1, stride-1, ungrouped convolution over NCHW as one GEMM per image:
/// y[n] (OutChannels × Pixels) = w (OutChannels × Channels) · x[n] (Channels × Pixels), plus bias and activation, plus
/// a residual of y's shape when <see cref="AddsResidual"/> is 1 (the skip connection after a projection).</summary>
public struct PointwiseGeometry
{
    public int Batch, Channels, OutChannels, Pixels, AddsResidual;

    public readonly double Flops => 2.0 * Batch * OutChannels * Channels * Pixels;
}

/// <summary>Shared-memory tiled SIMT GEMM for pointwise convolutions. Grid (pixel tiles, out-channel tiles, batch);
/// a group of (dx, dy) threads (at most 16 × 16) owns a (4·dy) × (4·dx) output tile and each thread a 4 × 4 micro-tile
/// strided by the group size, so shared-memory reads and global stores are consecutive across threads. Any group
/// shape works: 16 × 16 on a GPU (64 × 64 tiles), the CPU accelerator's 2 × 1.</summary>
public static class PointwiseConvolutionKernel
{
    public const int MaxGroupSide = 16;
    private const int Micro = 4, MaxTile = Micro * MaxGroupSide, KTile = 16;

    /// <summary>Output tile sides for a group of (dx, dy) threads: pixels, out channels.</summary>
    public static (int Pixels, int OutChannels) Tile(int dx, int dy) => (Micro * dx, Micro * dy);

    public static void Run(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y,
        PointwiseGeometry g, Activation activation)
    {
        // k-major tiles: the inner loop reads one row of each, the same address for a row of threads (broadcast).
        var wTile = SharedMemory.Allocate<float>(KTile * MaxTile);
        var xTile = SharedMemory.Allocate<float>(KTile * MaxTile);
        int tx = Group.IdxX, ty = Group.IdxY, dx = Group.DimX, dy = Group.DimY;
        int threads = dx * dy, t = ty * dx + tx;
        int tileM = Micro * dy, tileN = Micro * dx;
        int m0 = Grid.IdxY * tileM, p0 = Grid.IdxX * tileN, n = Grid.IdxZ;
        long xImage = (long)n * g.Channels * g.Pixels;
        Micro4 r0 = default, r1 = default, r2 = default, r3 = default;
        for (int k0 = 0; k0 < g.Channels; k0 += KTile)
        {
            for (int i = t; i < tileM * KTile; i += threads)
            {
                int m = i / KTile, k = i % KTile;
                bool inside = m0 + m < g.OutChannels && k0 + k < g.Channels;
                wTile[k * tileM + m] = inside ? w[(m0 + m) * g.Channels + k0 + k] : 0f;
            }
            for (int i = t; i < tileN * KTile; i += threads)
            {
                int k = i / tileN, p = i % tileN;
                bool inside = p0 + p < g.Pixels && k0 + k < g.Channels;
                xTile[k * tileN + p] = inside ? x[xImage + (long)(k0 + k) * g.Pixels + p0 + p] : 0f;
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
        var output = new PointwiseOutput(y, bias, residual, g, n, activation);
        int p1 = p0 + tx;
        output.Store(m0 + ty, p1, dx, r0);
        output.Store(m0 + ty + dy, p1, dx, r1);
        output.Store(m0 + ty + 2 * dy, p1, dx, r2);
        output.Store(m0 + ty + 3 * dy, p1, dx, r3);
    }
}

/// <summary>Pointwise convolutions over few pixels (the squeeze-excite FCs run on 1×1): one warp per output value, its
/// lanes splitting the channels and summing with shuffles. The tiled GEMM gives such a layer a handful of groups with
/// all but one of their 64 pixel columns idle (0.13 ms for a 720 → 184 FC on the H100). Groups of (warp size, warps).</summary>
public static class PointwiseWarpKernel
{
    /// <summary>Layers with at most this many pixels per image take this kernel.</summary>
    public const int MaxPixels = 4;

    public static void Run(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y,
        PointwiseGeometry g, Activation activation)
    {
        // Uniform across the warp (it depends on the warp's row in the group only), so whole warps leave together.
        long value = (long)Grid.IdxX * Group.DimY + Group.IdxY;
        if (value >= (long)g.Batch * g.OutChannels * g.Pixels) return;
        int pixel = (int)(value % g.Pixels), outChannel = (int)(value / g.Pixels % g.OutChannels), n = (int)(value / g.Pixels / g.OutChannels);
        long xImage = (long)n * g.Channels * g.Pixels + pixel;
        float sum = 0;
        for (int c = Group.IdxX; c < g.Channels; c += Group.DimX) sum += w[(long)outChannel * g.Channels + c] * x[xImage + (long)c * g.Pixels];
        for (int offset = Group.DimX / 2; offset > 0; offset /= 2) sum += Warp.ShuffleDown(sum, offset);
        if (Group.IdxX == 0) new PointwiseOutput(y, bias, residual, g, n, activation).Store(outChannel, pixel, sum);
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

/// <summary>The pointwise GEMM epilogue: bias, activation, the residual where there is one, and a bounds-checked store
/// into y[n, outChannel, pixel].</summary>
public readonly struct PointwiseOutput(ArrayView<float> y, ArrayView<float> bias, ArrayView<float> residual, PointwiseGeometry g, int n,
    Activation activation)
{
    public void Store(int outChannel, int pixel, float value)
    {
        if (outChannel >= g.OutChannels || pixel >= g.Pixels) return;
        long at = ((long)n * g.OutChannels + outChannel) * g.Pixels + pixel;
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
