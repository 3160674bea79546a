using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace MoeDetect.Kernels.Tensors;

/// <summary>A 1×1, stride-1, ungrouped convolution over NCHW as one GEMM per image:
/// y[n] (OutChannels × Pixels) = w (OutChannels × Channels) · x[n] (Channels × Pixels), plus bias and activation, plus
/// a residual of y's shape when <see cref="AddsResidual"/> is 1 (the skip connection after a projection). x is
/// multiplied by a per-channel scale as it is loaded when <see cref="ScalesInput"/> is 1 (a squeeze-excite gate,
/// [N or 1, C]: <see cref="ScaleImageStride"/> C or 0). With <see cref="Slices"/> &gt; 1 the tiled GEMM splits the
/// channels into slices of <see cref="SliceChannels"/> (split-K, <see cref="PointwiseConvolutionKernel.SplitK"/>).
/// <see cref="Tiling"/> is the tiled GEMM's launch shape (<see cref="PointwiseConvolutionKernel.ChooseTiling"/>; all
/// zero: not chosen yet). Where <see cref="Windowed"/> is 1 the same GEMMs run any ungrouped convolution
/// (<see cref="Window"/>) as an implicit GEMM: the reduction runs over <see cref="Channels"/> = input channels ·
/// kernel height · kernel width (the weights' own [out, in, kh, kw] order) and the columns over the
/// <see cref="Pixels"/> = output height · width, each column's values read through its window as they are loaded
/// (zero in the padding), never written out as an im2col matrix.</summary>
public struct PointwiseGeometry
{
    public int Batch, Channels, OutChannels, Pixels, AddsResidual, ScalesInput, ScaleImageStride, Slices, SliceChannels;
    public PointwiseTiling Tiling;
    public int Windowed;
    public WindowGeometry Window;
    /// <summary>Where <see cref="Windowed"/> is 1: division by the window's taps (kernel height · width), by its width
    /// and by the output width, which split a reduction row into (channel, tap) and a column into (row, column).</summary>
    public FastDivisor ByTaps, ByKernelWidth, ByOutWidth;
    /// <summary>Values between images of y where it is a slice of a larger tensor (a Concat's output, written in place);
    /// 0: y is [batch, out channels, pixels] itself.</summary>
    public int OutImageStride;
    /// <summary>Values between images of x and of the residual where they are channel ranges of larger tensors (a Split
    /// or Slice along channels read in place); 0: contiguous images of their own shape.</summary>
    public int InImageStride, ResidualImageStride;
    /// <summary>Not 0: the GEMM runs on tensor cores, a <see cref="TensorCorePrecision"/>: 1 TF32 operands
    /// (<see cref="TensorCoreConvolutionKernel"/>), 2 FP16 ones (<see cref="Fp16TensorCoreConvolutionKernel"/>), FP32 sums, in
    /// the tiles of <see cref="Tiling"/>: <see cref="PointwiseTiling.Square"/> (64 × 64) or
    /// <see cref="PointwiseTiling.TensorCoreWide"/> (32 × 128).</summary>
    public int TensorCores;
    /// <summary>Tensor cores and <see cref="Windowed"/> only: 1 where the reduction runs tap by tap, row k = (kernel tap
    /// k / C, input channel k % C) for C = <see cref="WindowGeometry.Channels"/>, and the weights come permuted so,
    /// [out channels, taps, channels] (<see cref="TapMajorWeights"/>). Planned where C is a multiple of
    /// <see cref="TensorCoreConvolutionKernel.TapRows"/>: each half k-step is then channels of one tap, whose bounds a
    /// thread checks once for all its copies (<see cref="TileCopies"/>).</summary>
    public int TapMajor;
    /// <summary>Where <see cref="Windowed"/> is 1: division by the window's input channels (a tap-major row's tap).</summary>
    public FastDivisor ByWindowChannels;
    /// <summary>Tensor cores only, set at launch from the operands' addresses: 1 where the weight rows, 1 where the input
    /// rows (1 × 1 GEMMs), can be copied in 16-byte chunks (<see cref="ChunkCopies"/>): rows of a multiple of 4 values
    /// starting 16-byte aligned.</summary>
    public int WeightChunks, InputChunks;

    public readonly double Flops => 2.0 * Batch * OutChannels * Channels * Pixels;

    /// <summary>The weights the tensor-core GEMM of an input-scaled geometry runs on: [images or 1, out channels,
    /// channels], the input scale multiplied in (the tensor cores read their operands from memory as they lie, so the
    /// scale cannot be applied to x on its way); 0 floats for other geometries.</summary>
    public readonly long ScaledWeightsLength =>
        TensorCores != 0 && ScalesInput != 0 ? (ScaleImageStride == 0 ? 1L : Batch) * OutChannels * Channels : 0;

    /// <summary>Values between images' matrices in those scaled weights (<see cref="ScaledWeightsLength"/>): 0 where one
    /// scale serves every image, so one matrix.</summary>
    public readonly int WeightImageStride => TensorCores != 0 && ScalesInput != 0 && ScaleImageStride != 0 ? OutChannels * Channels : 0;

    /// <summary>Scratch memory a launch of this geometry needs: the scaled weights, then the split-K partials [slices,
    /// batch, out channels, pixels] where split.</summary>
    public readonly long WorkspaceLength => ScaledWeightsLength + (Slices > 1 ? (long)Slices * Batch * OutChannels * Pixels : 0);
}

/// <summary>The tiled GEMM's launch shape: groups of <paramref name="GroupX"/> pixel threads × <paramref name="GroupY"/>
/// out-channel threads, each computing <see cref="Micro4x4.Size"/> × <see cref="Micro4x4.Size"/> outputs.</summary>
public readonly record struct PointwiseTiling(int GroupX, int GroupY)
{
    /// <summary>16 × 16 threads, 64 × 64 tiles: the tile for more than 32 out channels and for few tiles (batch 1), and
    /// the one plans used before tiles were chosen by layer.</summary>
    public static readonly PointwiseTiling Square = new(16, 16);

    /// <summary>32 × 128 tiles: on tensor cores only (<see cref="WideTensorCoreTile"/>), for layers whose out channels
    /// leave the last 64-row tile at most half full (<c>KernelLibrary.TensorCoreTilings</c>). (As SIMT threads, 32 × 8
    /// with 4 × 4 outputs each, the same tile.)</summary>
    public static readonly PointwiseTiling TensorCoreWide = new(32, 8);

    public int TilePixels => Micro4x4.Size * GroupX;
    public int TileChannels => Micro4x4.Size * GroupY;

    /// <summary>The launch grid of g under this shape: (pixel tiles, out-channel tiles, batch × split-K slices).</summary>
    public Index3D LaunchGrid(PointwiseGeometry g) =>
        new(PointwiseConvolutionKernel.Ceiling(g.Pixels, TilePixels), PointwiseConvolutionKernel.Ceiling(g.OutChannels, TileChannels), g.Batch * g.Slices);

    /// <summary>Output tiles (groups, before split-K) of g under this shape.</summary>
    public long Tiles(PointwiseGeometry g) =>
        (long)PointwiseConvolutionKernel.Ceiling(g.Pixels, TilePixels) * PointwiseConvolutionKernel.Ceiling(g.OutChannels, TileChannels) * g.Batch;

    public override string ToString() => $"{GroupX}×{GroupY} threads, {TileChannels}×{TilePixels} tiles";
}

/// <summary>Shared-memory tiled SIMT GEMM for pointwise convolutions. Grid (pixel tiles, out-channel tiles,
/// batch × slices); a group of (dx, dy) threads owns a (4·dy) × (4·dx) output tile and each thread a 4 × 4 block
/// (<see cref="Micro4x4"/>) strided by the group size, so shared-memory reads and global stores are consecutive across
/// threads. Any group shape up to the largest tiles (<see cref="MaxTilePixels"/> × <see cref="MaxTileChannels"/>)
/// works: those <see cref="ChooseTiling"/> picks on a GPU, the CPU accelerator's 2 × 1. Split (Grid.IdxZ = image ·
/// slices + slice), each group sums its slice of the channels only and stores it raw into the partials [slices, batch,
/// out channels, pixels]; <see cref="SumSlices"/> adds them up and applies the epilogue.</summary>
public static class PointwiseConvolutionKernel
{
    /// <summary>The largest output tile sides (short tiles 64 threads wide; 16 threads tall, as the 64 × 64 tile).</summary>
    public const int MaxTilePixels = 256, MaxTileChannels = 64;
    private const int KTile = Micro4x4.KTile;
    /// <summary>Threads per side of <see cref="PointwiseTiling.Square"/>, which has a load path of its own.</summary>
    private const int SquareSide = 16;

    /// <summary>Split-K only for reductions at least this long, into slices of at least this many k-tiles.</summary>
    private const int MinSplitChannels = 128, MinSliceTiles = 3;

    /// <summary>Threads of the GPU's groups: short tiles have at most this many, and at least a quarter (two warps).</summary>
    private const int GroupThreads = 256, MinGroupThreads = 64;

    /// <summary>Short tiles only where they still give at least this many groups per multiprocessor; otherwise the
    /// 64 × 64 tile, whose many small groups (and split-K) suit a GPU left half idle (batch 1).</summary>
    private const int ShortTilesPerMultiprocessor = 2;

    /// <summary>The launch shape for g on a GPU of <paramref name="multiprocessors"/>, from its geometry alone: a tile as
    /// tall as the out channels need, dy = ⌈out channels / 4⌉ rounded up to a power of two (at most 16), and dx the
    /// widest of 256 / dy … 16 (at most 64, 256 pixels; at least 64 threads) whose tiles still number
    /// <see cref="ShortTilesPerMultiprocessor"/> per multiprocessor (128 → 4: 64 × 1 threads, 4 × 256 tiles). From 33
    /// out channels on dy is 16 and the only dx 16: <see cref="PointwiseTiling.Square"/>. Else (few tiles: batch 1)
    /// <see cref="PointwiseTiling.Square"/> too, which split-K may then split.</summary>
    public static PointwiseTiling ChooseTiling(PointwiseGeometry g, int multiprocessors)
    {
        int dy = 1;
        while (dy < PointwiseTiling.Square.GroupY && 4 * dy < g.OutChannels) dy *= 2;
        for (int dx = Math.Min(MaxTilePixels / 4, GroupThreads / dy); dx >= Math.Max(PointwiseTiling.Square.GroupX, MinGroupThreads / dy); dx /= 2)
        {
            var shortTile = new PointwiseTiling(dx, dy);
            if (shortTile.Tiles(g) >= (long)ShortTilesPerMultiprocessor * multiprocessors) return shortTile;
        }
        return PointwiseTiling.Square;
    }

    /// <summary>g with its split-K slices for a device of <paramref name="multiprocessors"/>: where g's
    /// <see cref="PointwiseGeometry.Tiling"/> gives fewer than two groups per multiprocessor (720 → 120 channels at
    /// 16 × 16 pixels in 64 × 64 tiles: 8 groups on an H100's 132) and the reduction is long, the channels are cut into
    /// slices so that groups × slices comes near three per multiprocessor, each slice a whole number of k-tiles and at
    /// least <see cref="MinSliceTiles"/> of them (that layer: 15 slices of 48 channels, 120 groups). Otherwise one
    /// slice of all channels.</summary>
    public static PointwiseGeometry SplitK(PointwiseGeometry g, int multiprocessors)
    {
        long tiles = g.Tiling.Tiles(g);
        int kTiles = Ceiling(g.Channels, KTile);
        int slices = g.Channels < MinSplitChannels || tiles >= 2L * multiprocessors ? 1
            : (int)Math.Min(Ceiling(3L * multiprocessors, tiles), kTiles / MinSliceTiles);
        if (slices < 2) return g with { Slices = 1, SliceChannels = g.Channels };
        int sliceTiles = Ceiling(kTiles, slices);
        // Even slices of whole k-tiles; the last one takes the remainder.
        return g with { Slices = Ceiling(kTiles, sliceTiles), SliceChannels = sliceTiles * KTile };
    }

    internal static int Ceiling(long a, long b) => (int)((a + b - 1) / b);

    /// <summary>Launched with groups of <paramref name="shape"/>'s threads. The kernel is compiled once per shape
    /// (ILGPU specialises it on the value), so that the tile sides and strides below are constants: every shared-memory
    /// read of the inner loop is then a per-thread base plus an immediate offset, with no index arithmetic.</summary>
    public static void Run(ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual,
        ArrayView<float> y, PointwiseGeometry g, Activation activation, SpecializedValue<PointwiseTiling> shape, SpecializedValue<FusedFunction> function)
    {
        activation = function.Value.Of(activation);
        // k-major tiles, sized for the largest shape: the inner loop reads one row of each, the same address for a row
        // of threads (broadcast). The weight tile's rows are one longer than the tile: its loads walk k across threads
        // (consecutive in global memory), and with a row stride of 65 instead of 64 the 16 k of one out channel land in
        // 16 different shared-memory banks instead of one.
        var wTile = SharedMemory.Allocate<float>(KTile * (MaxTileChannels + 1));
        var xTile = SharedMemory.Allocate<float>(KTile * MaxTilePixels);
        int tx = Group.IdxX, ty = Group.IdxY, dx = shape.Value.GroupX, dy = shape.Value.GroupY;
        int threads = dx * dy, t = ty * dx + tx;
        Micro4x4 r = default;
        int tileM = Micro4x4.Size * dy, tileN = Micro4x4.Size * dx, wRow = tileM + 1;
        int m0 = Grid.IdxY * tileM, p0 = Grid.IdxX * tileN, n = Grid.IdxZ / g.Slices, slice = Grid.IdxZ % g.Slices;
        int kBegin = slice * g.SliceChannels, kEnd = Math.Min(g.Channels, kBegin + g.SliceChannels);
        var input = new PointwiseInput(x, scale, g, n);
        // This thread's first weight and input of each k row: the micro tile reads from here at constant offsets.
        var wThread = wTile.SubView(ty);
        var xThread = xTile.SubView(tx);
        if (dx == SquareSide && dy == SquareSide)
        {
            // The 64 × 64 tile on 16 × 16 threads (layers with many out channels, and batch 1): each thread stores 4
            // weights and 4 inputs a k-tile, the same ones the loops below would, but loads the next tile's into
            // registers while the group computes on this one, so their global-memory latency hides behind the
            // arithmetic instead of stalling every k-tile before its barrier. Same tiles, same sums.
            // Thread t's weights: out channels t / 16 + 16 j at k t % 16; its inputs: k t / 64 + 4 j at pixel t % 64.
            const int tile = Micro4x4.Size * SquareSide, rowStep = SquareSide * SquareSide / KTile, kStep = SquareSide * SquareSide / tile;
            int wm = m0 + t / KTile, wk = t % KTile, xk = t / tile, column = p0 + t % tile;
            int wAt = wk * wRow + t / KTile, xAt = xk * tile + t % tile, xStep = kStep * tile;
            float w0 = Weight(w, g, wm, kBegin + wk, kEnd), w1 = Weight(w, g, wm + rowStep, kBegin + wk, kEnd);
            float w2 = Weight(w, g, wm + 2 * rowStep, kBegin + wk, kEnd), w3 = Weight(w, g, wm + 3 * rowStep, kBegin + wk, kEnd);
            float x0 = Input(input, g, kBegin + xk, column, kEnd), x1 = Input(input, g, kBegin + xk + kStep, column, kEnd);
            float x2 = Input(input, g, kBegin + xk + 2 * kStep, column, kEnd), x3 = Input(input, g, kBegin + xk + 3 * kStep, column, kEnd);
            for (int k0 = kBegin; k0 < kEnd; k0 += KTile)
            {
                wTile[wAt] = w0; wTile[wAt + rowStep] = w1; wTile[wAt + 2 * rowStep] = w2; wTile[wAt + 3 * rowStep] = w3;
                xTile[xAt] = x0; xTile[xAt + xStep] = x1; xTile[xAt + 2 * xStep] = x2; xTile[xAt + 3 * xStep] = x3;
                Group.Barrier();
                int next = k0 + KTile;
                if (next < kEnd)
                {
                    w0 = Weight(w, g, wm, next + wk, kEnd); w1 = Weight(w, g, wm + rowStep, next + wk, kEnd);
                    w2 = Weight(w, g, wm + 2 * rowStep, next + wk, kEnd); w3 = Weight(w, g, wm + 3 * rowStep, next + wk, kEnd);
                    x0 = Input(input, g, next + xk, column, kEnd); x1 = Input(input, g, next + xk + kStep, column, kEnd);
                    x2 = Input(input, g, next + xk + 2 * kStep, column, kEnd); x3 = Input(input, g, next + xk + 3 * kStep, column, kEnd);
                }
                r.AddKTile(wThread, wRow, dy, xThread, tileN, dx);
                Group.Barrier();
            }
        }
        else
        {
            for (int k0 = kBegin; k0 < kEnd; k0 += KTile)
            {
                for (int i = t; i < tileM * KTile; i += threads)
                {
                    int m = i / KTile, k = i % KTile;
                    wTile[k * wRow + m] = Weight(w, g, m0 + m, k0 + k, kEnd);
                }
                for (int i = t; i < tileN * KTile; i += threads)
                {
                    int k = i / tileN, p = i % tileN;
                    xTile[k * tileN + p] = Input(input, g, k0 + k, p0 + p, kEnd);
                }
                Group.Barrier();
                r.AddKTile(wThread, wRow, dy, xThread, tileN, dx);
                Group.Barrier();
            }
        }
        // Split, y is the partials and image slice · batch + n of them takes the raw sums.
        bool partial = g.Slices > 1;
        r.Store(new PointwiseOutput(y, bias, residual, g, partial ? slice * g.Batch + n : n, activation, partial), m0 + ty, dy, p0 + tx, dx);
    }

    /// <summary>w[m, k], 0 outside the out channels and past the slice's end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Weight(ArrayView<float> w, PointwiseGeometry g, int m, int k, int kEnd) =>
        m < g.OutChannels && k < kEnd ? w[m * g.Channels + k] : 0f;

    /// <summary>x[k, pixel] as loaded (<see cref="PointwiseInput"/>), 0 outside the pixels and past the slice's end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Input(PointwiseInput input, PointwiseGeometry g, int k, int pixel, int kEnd) =>
        pixel < g.Pixels && k < kEnd ? input.Load(k, pixel) : 0f;

    /// <summary>scaled[n, m, k] = w[m, k] · scale[n, k], a thread per value (<see cref="PointwiseGeometry.ScaledWeightsLength"/>):
    /// an input-scaled GEMM's weights per image, so that the tensor cores multiply the unscaled input.</summary>
    public static void ScaleWeights(Index1D i, ArrayView<float> w, ArrayView<float> scale, ArrayView<float> scaled, PointwiseGeometry g)
    {
        int matrix = g.OutChannels * g.Channels, n = i / matrix, within = i - n * matrix;
        scaled[i] = w[within] * scale[(long)n * g.ScaleImageStride + within % g.Channels];
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

/// <summary>A thread's block of the tiled GEMM's outputs: 4 out channels × 4 pixels, FP32 (plain fields, so that they
/// stay in registers; its methods are inlined, so that the fields are never addressed). The rows are strided by the
/// group's height, the columns by its width.</summary>
public struct Micro4x4
{
    public const int Size = 4;

    private Micro4 _r0, _r1, _r2, _r3;

    /// <summary>One k step: 4 weights w[wAt + i·wStep] and 4 inputs x[xAt + j·xStep] from shared memory, each read once
    /// and used in 4 FMAs (8 reads for 16 FMAs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(ArrayView<float> w, int wAt, int wStep, ArrayView<float> x, int xAt, int xStep)
    {
        float x0 = x[xAt], x1 = x[xAt + xStep], x2 = x[xAt + 2 * xStep], x3 = x[xAt + 3 * xStep];
        _r0.Add(w[wAt], x0, x1, x2, x3);
        _r1.Add(w[wAt + wStep], x0, x1, x2, x3);
        _r2.Add(w[wAt + 2 * wStep], x0, x1, x2, x3);
        _r3.Add(w[wAt + 3 * wStep], x0, x1, x2, x3);
    }

    /// <summary>Rows of a k-tile (see <see cref="AddKTile"/>, which takes 4 × 4 of them).</summary>
    public const int KTile = 16;

    /// <summary>The <see cref="KTile"/> k steps of one shared-memory k-tile, k rows <paramref name="wRow"/> and
    /// <paramref name="xRow"/> values apart, written out: ILGPU does not unroll the loop, and written out every offset is
    /// a constant where the kernel is specialised for its tile shape.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddKTile(ArrayView<float> w, int wRow, int wStep, ArrayView<float> x, int xRow, int xStep)
    {
        AddFour(w, 0, wRow, wStep, x, 0, xRow, xStep);
        AddFour(w, 4 * wRow, wRow, wStep, x, 4 * xRow, xRow, xStep);
        AddFour(w, 8 * wRow, wRow, wStep, x, 8 * xRow, xRow, xStep);
        AddFour(w, 12 * wRow, wRow, wStep, x, 12 * xRow, xRow, xStep);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddFour(ArrayView<float> w, int wAt, int wRow, int wStep, ArrayView<float> x, int xAt, int xRow, int xStep)
    {
        Add(w, wAt, wStep, x, xAt, xStep);
        Add(w, wAt + wRow, wStep, x, xAt + xRow, xStep);
        Add(w, wAt + 2 * wRow, wStep, x, xAt + 2 * xRow, xStep);
        Add(w, wAt + 3 * wRow, wStep, x, xAt + 3 * xRow, xStep);
    }

    /// <summary>Stores the block, its first output at (outChannel, pixel).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store(PointwiseOutput output, int outChannel, int rowStep, int pixel, int columnStep)
    {
        output.Store(outChannel, pixel, columnStep, _r0);
        output.Store(outChannel + rowStep, pixel, columnStep, _r1);
        output.Store(outChannel + 2 * rowStep, pixel, columnStep, _r2);
        output.Store(outChannel + 3 * rowStep, pixel, columnStep, _r3);
    }
}

/// <summary>Four FP32 accumulators of one output row (plain fields, so they stay in registers).</summary>
public struct Micro4
{
    public float C0, C1, C2, C3;

    public static Micro4 Of(float value) => new() { C0 = value, C1 = value, C2 = value, C3 = value };

    /// <summary>Each value · factor + bias (a depthwise sum's input scale, then its bias).</summary>
    public readonly Micro4 Affine(float factor, float bias) =>
        new() { C0 = C0 * factor + bias, C1 = C1 * factor + bias, C2 = C2 * factor + bias, C3 = C3 * factor + bias };

    /// <summary>The activation applied to each value.</summary>
    public readonly Micro4 Activated(Activation activation) => new()
    {
        C0 = ElementwiseKernels.ApplyFused(C0, activation), C1 = ElementwiseKernels.ApplyFused(C1, activation),
        C2 = ElementwiseKernels.ApplyFused(C2, activation), C3 = ElementwiseKernels.ApplyFused(C3, activation),
    };

    public void Add(float w, float x0, float x1, float x2, float x3)
    {
        C0 += w * x0;
        C1 += w * x1;
        C2 += w * x2;
        C3 += w * x3;
    }
}

/// <summary>x[n] as the pointwise GEMMs load it: times scale[n, channel] where <see cref="PointwiseGeometry.ScalesInput"/>
/// is 1 (a squeeze-excite gate, so that the gated tensor is never written); through the window where
/// <see cref="PointwiseGeometry.Windowed"/> is 1 (no input scale then).</summary>
public readonly struct PointwiseInput(ArrayView<float> x, ArrayView<float> scale, PointwiseGeometry g, int n)
{
    public float Load(int channel, int pixel)
    {
        long at = Offset(g, n, channel, pixel, WindowOrigin(g, pixel));
        if (at < 0) return 0f;
        return g.ScalesInput != 0 ? x[at] * scale[(long)n * g.ScaleImageStride + channel] : x[at];
    }

    /// <summary>Where g is windowed: the input row and column of output <paramref name="pixel"/>'s window origin (its
    /// top-left tap, padding included); (0, 0) otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Index2D WindowOrigin(PointwiseGeometry g, int pixel)
    {
        if (g.Windowed == 0) return default;
        int oy = g.ByOutWidth.Divide(pixel), ox = pixel - oy * g.Window.OutWidth;
        return new Index2D(ox * g.Window.StrideX - g.Window.PadLeft, oy * g.Window.StrideY - g.Window.PadTop);
    }

    /// <summary>Where x[n] row k, column <paramref name="pixel"/> is (windowed: row k = (input channel, kernel row,
    /// kernel column) of the window at <paramref name="origin"/>, <see cref="WindowOrigin"/>), or -1 in the padding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Offset(PointwiseGeometry g, int n, int k, int pixel, Index2D origin)
    {
        if (g.Windowed == 0) return ImageStart(g.InImageStride, n, (long)g.Channels * g.Pixels) + (long)k * g.Pixels + pixel;
        var win = g.Window;
        int c = g.ByTaps.Divide(k), tap = k - c * g.ByTaps.Divisor;
        int ky = g.ByKernelWidth.Divide(tap), kx = tap - ky * win.KernelWidth;
        int iy = origin.Y + ky * win.DilationY, ix = origin.X + kx * win.DilationX;
        long image = ImageStart(g.InImageStride, n, (long)win.Channels * win.Height * win.Width);
        return iy >= 0 && iy < win.Height && ix >= 0 && ix < win.Width ? image + ((long)c * win.Height + iy) * win.Width + ix : -1;
    }

    /// <summary>Where image n starts: <paramref name="stride"/> values apart, or <paramref name="size"/> (contiguous) where it is 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long ImageStart(int stride, int n, long size) => n * (stride == 0 ? size : stride);
}

/// <summary>The pointwise GEMM epilogue: bias, activation, the residual where there is one (images
/// <see cref="PointwiseGeometry.ResidualImageStride"/> apart where set), and a bounds-checked store
/// into y[n, outChannel, pixel] (images <see cref="PointwiseGeometry.OutImageStride"/> apart where set); a
/// <paramref name="partial"/> output (a split-K slice) stores the raw sum into the contiguous partials. The GEMMs store
/// through <see cref="Row"/>, which works out a row's addresses and bias once for all its pixels.</summary>
public readonly struct PointwiseOutput(ArrayView<float> y, ArrayView<float> bias, ArrayView<float> residual, PointwiseGeometry g, int n,
    Activation activation, bool partial)
{
    public void Store(int outChannel, int pixel, float value) => Row(outChannel).Store(pixel, value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public OutputRow Row(int outChannel)
    {
        bool valid = outChannel < g.OutChannels;
        long image = (long)g.OutChannels * g.Pixels, within = (long)outChannel * g.Pixels;
        if (partial) return new OutputRow(y, residual, g, n * image + within, 0, 0f, valid, activation, partial);
        return new OutputRow(y, residual, g, PointwiseInput.ImageStart(g.OutImageStride, n, image) + within,
            PointwiseInput.ImageStart(g.ResidualImageStride, n, image) + within, valid ? bias[outChannel] : 0f, valid, activation, partial);
    }

    /// <summary>Stores four outputs of one row at pixel, pixel + step, pixel + 2·step, pixel + 3·step.</summary>
    public void Store(int outChannel, int pixel, int step, Micro4 r)
    {
        var row = Row(outChannel);
        row.Store(pixel, r.C0);
        row.Store(pixel + step, r.C1);
        row.Store(pixel + 2 * step, r.C2);
        row.Store(pixel + 3 * step, r.C3);
    }
}

/// <summary>One out channel's row of <see cref="PointwiseOutput"/>: where it starts in y and in the residual, its bias.</summary>
public readonly struct OutputRow(ArrayView<float> y, ArrayView<float> residual, PointwiseGeometry g, long outAt, long residualAt, float bias,
    bool valid, Activation activation, bool partial)
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(int pixel, float value)
    {
        if (!valid | pixel >= g.Pixels) return;
        if (partial)
        {
            y[outAt + pixel] = value;
            return;
        }
        float v = ElementwiseKernels.ApplyFused(value + bias, activation);
        if (g.AddsResidual != 0) v += residual[residualAt + pixel];
        y[outAt + pixel] = v;
    }
}
