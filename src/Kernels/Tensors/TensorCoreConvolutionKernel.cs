using System.Runtime.CompilerServices;
using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>The tiled GEMM of <see cref="PointwiseConvolutionKernel"/> on tensor cores, for geometries planned with
/// <see cref="PointwiseGeometry.TensorCores"/> = 1: inline PTX <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c>
/// (sm_80 and later) on the FP32 tensors as they are, the tensor cores reading each operand's upper 19 bits (TF32: FP32's
/// range, FP16's 10-bit mantissa); sums, bias, activation and the stored output stay FP32. It takes everything the SIMT
/// GEMM takes: implicit-GEMM windows, residual, split-K slices (raw partials, summed by
/// <see cref="PointwiseConvolutionKernel.SumSlices"/>), and the input scale as weights scaled per image beforehand
/// (<see cref="PointwiseGeometry.WeightImageStride"/>).
/// Grid (pixel tiles, out-channel tiles, batch × slices), groups of 128 threads: 4 warps (<see cref="ITensorCoreTile"/>:
/// 2 × 2 for 64 × 64 tiles, 1 × 4 for 32 × 128), each warp a 32 × 32 block of 2 × 4 mma tiles (16 × 8). Operands travel
/// global → shared memory by <c>cp.async</c>, never through registers, double-buffered: a k-step's copies are in flight
/// while the group multiplies the previous one. Warps read their weight fragments by <c>ldmatrix</c>, their input words
/// one by one. The FP16 kernel before it loaded through registers and was bound by
/// those loads (docs/results/2026-12-05-h100-tensor-cores).
/// <see cref="Fp16TensorCoreConvolutionKernel"/> runs the same tiles on FP16 operands.
/// Written in its <c>TIsa</c>'s instructions (<see cref="ITensorCoreIsa"/>): PTX on CUDA, emulated on the CPU
/// accelerator, where the tests check each tensor-core kernel against the FP32 SIMT GEMM (<c>TensorCoreCheck</c>, which
/// also runs on the GPU before plans use them).</summary>
public static class TensorCoreConvolutionKernel
{
    public const int GroupSize = 128;
    internal const int KStep = 32, Stages = 2;
    /// <summary>Rows of half a k-step: a tap-major reduction's channels are a multiple of it
    /// (<see cref="PointwiseGeometry.TapMajor"/>), so that these rows are channels of one tap.</summary>
    public const int TapRows = KStep / 2;

    /// <summary>Whether g (an implicit GEMM) runs tap-major on tensor cores: its input channels divide into
    /// <see cref="TapRows"/>.</summary>
    public static bool TapMajorFits(PointwiseGeometry g) => g.Windowed != 0 && g.Window.Channels % TapRows == 0;
    /// <summary>Weight row stride in words, [out channel][k]: 32 k + 4, so a fragment's 8 rows × 4 k fall on 32 banks.</summary>
    internal const int WeightStride = KStep + 4;

    /// <summary>Compiled once per tile type (<see cref="SquareTensorCoreTile"/>, <see cref="WideTensorCoreTile"/>) and fused
    /// activation (<see cref="IFusedFunction"/>), so that the tile's sizes and strides and the epilogue's function are
    /// constants.</summary>
    /// <param name="x">The input's device address (<see cref="PointwiseInput"/>'s tensor; the copies need addresses,
    /// which ILGPU does not give out inside a kernel).</param>
    /// <param name="w">The weights' device address, [out channels, channels].</param>
    /// <param name="activation">Its function is TFunction's (<see cref="FusedFunctions.Of{TFunction}"/>).</param>
    public static void Run<TTile, TFunction, TIsa>(long x, long w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y, PointwiseGeometry g,
        Activation activation) where TTile : struct, ITensorCoreTile where TFunction : struct, IFusedFunction where TIsa : struct, ITensorCoreIsa
    {
        var layout = new TileLayout(default(TTile).WarpRows);
        // One allocation (see ITensorCoreIsa.SharedBase): the weight stages (read by address, LoadMatrices), then the input stages.
        var tiles = SharedMemory.Allocate<uint>(Stages * (layout.WeightStage + layout.InputStage));
        var xTiles = tiles.SubView(Stages * layout.WeightStage);
        var o = new TileOrigin(layout, g);
        int lane = o.Lane, kEnd = o.KEnd;
        uint shared = default(TIsa).SharedBase();
        // An input scale comes multiplied into a weight matrix per image (PointwiseGeometry.WeightImageStride).
        long wImage = w + 4L * o.Image * g.WeightImageStride;
        var copies = new TileCopies(layout, x, wImage, g, o.Image, o.M0, o.P0, o.Thread, shared, shared + 4u * Stages * (uint)layout.WeightStage);
        copies.Issue<TIsa>(tiles, 0, o.KBegin, kEnd);
        default(TIsa).Commit();
        int quad = lane / 4, pair = lane % 4, inputStride = layout.InputStride;
        // This lane's B word (k pair, column quad) of a stage, and the weight row it points ldmatrix at (LoadMatrices):
        // lanes 8j..8j+7 give matrix j's 8 rows, matrices 0..3 being (rows 0-7, k 0-3), (rows 8-15, k 0-3),
        // (rows 0-7, k 4-7), (rows 8-15, k 4-7): the mma's a0..a3.
        int bAt = pair * inputStride + o.ColumnBase + quad;
        uint aMatrix = shared + 4u * (uint)((o.RowBase + lane % 8 + 8 * (lane / 8 % 2)) * WeightStride + 4 * (lane / 16));
        WarpTile acc = default;
        int stage = 0;
        for (int k0 = o.KBegin; k0 < kEnd; k0 += KStep)
        {
            if (k0 + KStep < kEnd) copies.Issue<TIsa>(tiles, 1 - stage, k0 + KStep, kEnd);
            // Always a group, even an empty one, so that "all but the newest" is this stage's copies.
            default(TIsa).Commit();
            default(TIsa).WaitAllButNewest();
            Group.Barrier();
            // The k8 steps' fragments lie 8 words (32 bytes) apart along a weight row, 8 input rows apart down the inputs.
            uint a = aMatrix + 4u * (uint)(stage * layout.WeightStage);
            int b = stage * layout.InputStage + bAt;
            acc.Multiply<TIsa>(tiles, a, xTiles, b, inputStride);
            acc.Multiply<TIsa>(tiles, a + 32, xTiles, b + 8 * inputStride, inputStride);
            acc.Multiply<TIsa>(tiles, a + 64, xTiles, b + 16 * inputStride, inputStride);
            acc.Multiply<TIsa>(tiles, a + 96, xTiles, b + 24 * inputStride, inputStride);
            // Everyone is done reading this stage before the next iteration's copies overwrite it.
            Group.Barrier();
            stage = 1 - stage;
        }
        o.Store<TFunction>(acc, bias, residual, y, g, activation);
    }
}

/// <summary>A block tile of <see cref="TensorCoreConvolutionKernel"/>: its 4 warps, each a 32 × 32 block of outputs,
/// stacked <see cref="WarpRows"/> high and 4 / <see cref="WarpRows"/> wide.</summary>
public interface ITensorCoreTile
{
    int WarpRows { get; }
}

/// <summary>64 out channels × 64 pixels (2 × 2 warps).</summary>
public readonly struct SquareTensorCoreTile : ITensorCoreTile
{
    public int WarpRows => 2;
}

/// <summary>32 out channels × 128 pixels (1 × 4 warps): for layers that leave half or more of the square tiles' last row
/// of tiles empty (at most 32 out channels, or 80).</summary>
public readonly struct WideTensorCoreTile : ITensorCoreTile
{
    public int WarpRows => 1;
}

/// <summary>A thread's place in a tensor-core GEMM's launch (grid (pixel tiles, out-channel tiles, batch × slices), groups
/// of <see cref="TensorCoreConvolutionKernel.GroupSize"/>): its lane and warp, its warp's 32 × 32 block, its tile's first
/// out channel and pixel, its image and split-K slice, and that slice's reduction rows.</summary>
internal readonly struct TileOrigin
{
    public readonly int Thread, Lane, Warp, RowBase, ColumnBase, M0, P0, Image, Slice, KBegin, KEnd;

    public TileOrigin(TileLayout layout, PointwiseGeometry g)
    {
        Thread = Group.IdxX;
        Lane = Thread % 32;
        Warp = Thread / 32;
        RowBase = layout.WarpRow(Warp);
        ColumnBase = layout.WarpColumn(Warp);
        M0 = Grid.IdxY * layout.Rows;
        P0 = Grid.IdxX * layout.Columns;
        Image = Grid.IdxZ / g.Slices;
        Slice = Grid.IdxZ % g.Slices;
        KBegin = Slice * g.SliceChannels;
        KEnd = Math.Min(g.Channels, KBegin + g.SliceChannels);
    }

    /// <summary>The epilogue: the warp block's sums with bias, activation and residual into y, or a slice's raw partials.</summary>
    public void Store<TFunction>(WarpTile acc, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y, PointwiseGeometry g,
        Activation activation) where TFunction : struct, IFusedFunction
    {
        bool partial = g.Slices > 1;
        var output = new PointwiseOutput(y, bias, residual, g, partial ? Slice * g.Batch + Image : Image, FusedFunctions.Of<TFunction>(activation), partial);
        acc.Store(output, M0 + RowBase + Lane / 4, P0 + ColumnBase + 2 * (Lane % 4));
    }
}

/// <summary>A tile's sizes, in words: its rows (out channels) and columns (pixels), the shared-memory stages of its
/// operands (weights [row][k], 32 k a row; inputs [k][column], rows of columns + 8, so that a fragment's 4 k rows × 8
/// columns fall on 32 banks) and each thread's copies into them.</summary>
internal readonly struct TileLayout(int warpRows)
{
    public readonly int Rows = 32 * warpRows, Columns = 32 * (4 / warpRows), WarpColumns = 4 / warpRows;
    public int InputStride => Columns + 8;
    /// <summary>The first row and column of warp <paramref name="warp"/>'s 32 × 32 block of the tile.</summary>
    public int WarpRow(int warp) => warp / WarpColumns * 32;
    public int WarpColumn(int warp) => warp % WarpColumns * 32;
    public int WeightStage => Rows * TensorCoreConvolutionKernel.WeightStride;
    public int InputStage => TensorCoreConvolutionKernel.KStep * InputStride;
    /// <summary>Weight and input values a thread copies a k-step: the tile's Rows × 32 and 32 × Columns over 128 threads.</summary>
    public int WeightCopies => Rows * TensorCoreConvolutionKernel.KStep / TensorCoreConvolutionKernel.GroupSize;
    public int InputCopies => TensorCoreConvolutionKernel.KStep * Columns / TensorCoreConvolutionKernel.GroupSize;
    /// <summary>k rows the group's input copies cover at once: a thread per column.</summary>
    public int InputRowsAtOnce => TensorCoreConvolutionKernel.GroupSize / Columns;
}

/// <summary>One thread's share of a k-step's copies into a stage: weights w[m0 + t / 32 + 4 i, k + t % 32] (a warp
/// copies 32 consecutive k of one out channel) and inputs x[k + t / C + (128 / C) i, p0 + t % C] for a tile of C columns
/// (a warp copies 32 consecutive pixels of one k row). Everything that does not change with k is worked out once per
/// thread (the weight row's address, the pixel's window, <see cref="WindowColumn"/>), and a row's place in the window
/// once per warp and k-step: a warp's 32 lanes copy the same k rows, so lane i works out row i
/// (<see cref="WindowRow"/>) and the copies take it by shuffle. Each copy is then a few adds and compares; splitting
/// each k into (channel, kernel row, kernel column) per copy made the copies, not the multiplies, most of the kernel's
/// instructions.</summary>
internal readonly struct TileCopies
{
    private const int CopyRows = TensorCoreConvolutionKernel.GroupSize / TensorCoreConvolutionKernel.KStep;
    private readonly TileLayout _layout;
    private readonly long _x, _w, _wRow, _wRowStep;
    private readonly PointwiseGeometry _g;
    private readonly int _wk, _wRows, _xk, _lane;
    private readonly WindowColumn _column;
    private readonly uint _wTarget, _xTarget;
    private readonly ChunkCopies _chunks;

    public TileCopies(TileLayout layout, long x, long w, PointwiseGeometry g, int n, int m0, int p0, int t, uint wShared, uint xShared)
    {
        _layout = layout;
        _x = x;
        _w = w;
        _g = g;
        int m = m0 + t / TensorCoreConvolutionKernel.KStep;
        _wk = t % TensorCoreConvolutionKernel.KStep;
        _wRow = w + 4L * m * g.Channels;
        _wRowStep = 4L * CopyRows * g.Channels;
        // This thread's rows m, m + 4, … that are out channels.
        _wRows = OutChannelRows(g, m, CopyRows, layout.WeightCopies);
        _xk = t / layout.Columns;
        _lane = t % 32;
        _column = WindowColumn.Of(g, n, p0 + t % layout.Columns);
        _wTarget = wShared + 4u * (uint)(t / TensorCoreConvolutionKernel.KStep * TensorCoreConvolutionKernel.WeightStride + _wk);
        _xTarget = xShared + 4u * (uint)(_xk * layout.InputStride + t % layout.Columns);
        _chunks = new ChunkCopies(layout, x, w, g, n, m0, p0, t, wShared, xShared);
    }

    /// <summary>How many of a thread's weight rows m, m + step, … (<paramref name="copies"/> of them) are out channels.</summary>
    internal static int OutChannelRows(PointwiseGeometry g, int m, int step, int copies) =>
        Math.Min(Math.Max((g.OutChannels - m + step - 1) / step, 0), copies);

    /// <param name="shared">The kernel's shared allocation, which the copies fill (named for the CPU accelerator).</param>
    public void Issue<TIsa>(ArrayView<uint> shared, int stage, int k0, int kEnd) where TIsa : struct, ITensorCoreIsa
    {
        uint wStage = 4u * (uint)(stage * _layout.WeightStage);
        if (_g.WeightChunks != 0) _chunks.IssueWeights<TIsa>(shared, wStage, k0, kEnd);
        else IssueWeightWords<TIsa>(shared, wStage, k0, kEnd);
        IssueInputs<TIsa>(shared, stage, k0, kEnd);
    }

    /// <summary>The input copies of a k-step alone (<see cref="Fp16TensorCoreConvolutionKernel"/> loads its weights
    /// itself).</summary>
    public void IssueInputs<TIsa>(ArrayView<uint> shared, int stage, int k0, int kEnd) where TIsa : struct, ITensorCoreIsa
    {
        uint xStage = 4u * (uint)(stage * _layout.InputStage);
        if (_g.InputChunks != 0) _chunks.IssueInputs<TIsa>(shared, xStage, k0, kEnd);
        else IssueInputWords<TIsa>(shared, xStage, k0, kEnd);
    }

    private void IssueWeightWords<TIsa>(ArrayView<uint> shared, uint stage, int k0, int kEnd) where TIsa : struct, ITensorCoreIsa
    {
        uint wTarget = _wTarget + stage;
        int wk = k0 + _wk;
        bool wkValid = wk < kEnd;
        long wAt = _wRow + 4L * wk;
        for (int i = 0; i < _layout.WeightCopies; i++)
        {
            bool wValid = wkValid & i < _wRows;
            default(TIsa).Copy(shared, wTarget + 4u * (uint)(CopyRows * i * TensorCoreConvolutionKernel.WeightStride), wValid ? wAt : _w, wValid);
            wAt += _wRowStep;
        }
    }

    private void IssueInputWords<TIsa>(ArrayView<uint> shared, uint stage, int k0, int kEnd) where TIsa : struct, ITensorCoreIsa
    {
        uint xTarget = _xTarget + stage;
        if (_g.TapMajor != 0)
        {
            IssueTapMajorInputs<TIsa>(shared, xTarget, k0, kEnd);
            return;
        }
        int rowsAtOnce = _layout.InputRowsAtOnce, copies = _layout.InputCopies;
        // Lane i (and i + 16 where a warp copies 16 rows) describes this warp's i-th k row.
        var row = WindowRow.Of(_g, k0 + _xk + rowsAtOnce * (_lane % copies), kEnd);
        for (int i = 0; i < copies; i++)
        {
            long at = _column.At(new WindowRow(Warp.Shuffle(row.Offset, i), Warp.Shuffle(row.Tap, i)));
            default(TIsa).Copy(shared, xTarget + 4u * (uint)(rowsAtOnce * i * _layout.InputStride), at >= 0 ? _x + 4L * at : _x, at >= 0);
        }
    }

    /// <summary>Input copies of a tap-major reduction (<see cref="PointwiseGeometry.TapMajor"/>): a half k-step's rows
    /// are channels of one tap, so this thread's rows of it share the tap's bounds check and lie a channel plane (times
    /// the rows the group copies at once) apart in x: one row decoded a half, then an add a copy.</summary>
    private void IssueTapMajorInputs<TIsa>(ArrayView<uint> shared, uint xTarget, int k0, int kEnd) where TIsa : struct, ITensorCoreIsa
    {
        int rowsAtOnce = _layout.InputRowsAtOnce, perHalf = _layout.InputCopies / 2;
        long step = 4L * rowsAtOnce * _g.Window.Height * _g.Window.Width;
        for (int half = 0; half < 2; half++)
        {
            long at = _column.At(WindowRow.OfTapMajor(_g, k0 + half * TensorCoreConvolutionKernel.TapRows + _xk, kEnd));
            bool valid = at >= 0;
            long source = valid ? _x + 4L * at : _x;
            for (int i = half * perHalf; i < (half + 1) * perHalf; i++)
            {
                default(TIsa).Copy(shared, xTarget + 4u * (uint)(rowsAtOnce * i * _layout.InputStride), source, valid);
                source += valid ? step : 0;
            }
        }
    }
}

/// <summary>The copies of <see cref="TileCopies"/> in 16-byte chunks (4 values), a quarter as many, where the operand
/// allows (<see cref="PointwiseGeometry.WeightChunks"/>, <see cref="PointwiseGeometry.InputChunks"/>): weights
/// w[m0 + t / 8 + 16 i, k + 4 (t % 8) …], inputs x[k + t / (C / 4) + (512 / C) i, p0 + 4 (t % (C / 4)) …] for a tile of
/// C columns. A chunk lies wholly inside or wholly outside the operand: rows of a multiple of 4 values, slices of whole
/// k-tiles.</summary>
internal readonly struct ChunkCopies
{
    private const int KChunks = TensorCoreConvolutionKernel.KStep / 4;
    private const int WeightRowStep = TensorCoreConvolutionKernel.GroupSize / KChunks;
    private readonly TileLayout _layout;
    private readonly long _x, _w, _wRow, _wRowStep, _xColumn;
    private readonly int _wk, _wRows, _xk, _pixels;
    private readonly bool _xValid;
    private readonly uint _wTarget, _xTarget;

    public ChunkCopies(TileLayout layout, long x, long w, PointwiseGeometry g, int n, int m0, int p0, int t, uint wShared, uint xShared)
    {
        _layout = layout;
        _x = x;
        _w = w;
        int m = m0 + t / KChunks, columnChunks = layout.Columns / 4, pixel = p0 + 4 * (t % columnChunks);
        _wk = 4 * (t % KChunks);
        _wRow = w + 4L * ((long)m * g.Channels + _wk);
        _wRowStep = 4L * WeightRowStep * g.Channels;
        _wRows = TileCopies.OutChannelRows(g, m, WeightRowStep, layout.Rows / WeightRowStep);
        _xk = t / columnChunks;
        _pixels = g.Pixels;
        _xColumn = x + 4L * (PointwiseInput.ImageStart(g.InImageStride, n, (long)g.Channels * g.Pixels) + (long)_xk * g.Pixels + pixel);
        _xValid = pixel < g.Pixels;
        _wTarget = wShared + 4u * (uint)((m - m0) * TensorCoreConvolutionKernel.WeightStride + _wk);
        _xTarget = xShared + 4u * (uint)(_xk * layout.InputStride + pixel - p0);
    }

    public void IssueWeights<TIsa>(ArrayView<uint> shared, uint stage, int k0, int kEnd) where TIsa : struct, ITensorCoreIsa
    {
        bool kValid = k0 + _wk < kEnd;
        long at = _wRow + 4L * k0;
        for (int i = 0; i < _layout.Rows / WeightRowStep; i++)
        {
            bool valid = kValid & i < _wRows;
            default(TIsa).Copy16(shared, _wTarget + stage + 4u * (uint)(WeightRowStep * i * TensorCoreConvolutionKernel.WeightStride), valid ? at : _w, valid);
            at += _wRowStep;
        }
    }

    public void IssueInputs<TIsa>(ArrayView<uint> shared, uint stage, int k0, int kEnd) where TIsa : struct, ITensorCoreIsa
    {
        // Each pass of the group's copies covers this many k rows.
        int rowStep = TensorCoreConvolutionKernel.GroupSize / (_layout.Columns / 4);
        long at = _xColumn + 4L * k0 * _pixels;
        for (int i = 0; i < TensorCoreConvolutionKernel.KStep / rowStep; i++)
        {
            bool valid = _xValid & k0 + _xk + rowStep * i < kEnd;
            default(TIsa).Copy16(shared, _xTarget + stage + 4u * (uint)(rowStep * i * _layout.InputStride), valid ? at : _x, valid);
            at += 4L * rowStep * _pixels;
        }
    }
}

/// <summary>Reduction row k of a GEMM's input as seen from a column's window origin: <see cref="Offset"/> values past
/// the origin (input channel plane, kernel row and column; k · pixels for a 1 × 1 GEMM) and the tap's place in the
/// window, <see cref="Tap"/> = row · 2¹⁶ + column, for the bounds check; -1 past the slice's end.</summary>
public readonly struct WindowRow(int offset, int tap)
{
    public readonly int Offset = offset, Tap = tap;

    public static WindowRow Of(PointwiseGeometry g, int k, int kEnd)
    {
        if (k >= kEnd) return new WindowRow(0, -1);
        if (g.Windowed == 0) return new WindowRow(k * g.Pixels, 0);
        int c = g.ByTaps.Divide(k);
        return OfTap(g, c, k - c * g.ByTaps.Divisor);
    }

    /// <summary>Row k of a tap-major reduction (<see cref="PointwiseGeometry.TapMajor"/>): tap k / C, channel k % C.</summary>
    public static WindowRow OfTapMajor(PointwiseGeometry g, int k, int kEnd)
    {
        if (k >= kEnd) return new WindowRow(0, -1);
        int tap = g.ByWindowChannels.Divide(k);
        return OfTap(g, k - tap * g.Window.Channels, tap);
    }

    private static WindowRow OfTap(PointwiseGeometry g, int c, int tap)
    {
        var win = g.Window;
        int ky = g.ByKernelWidth.Divide(tap), kx = tap - ky * win.KernelWidth;
        int dy = ky * win.DilationY, dx = kx * win.DilationX;
        return new WindowRow((c * win.Height + dy) * win.Width + dx, dy << 16 | dx);
    }
}

/// <summary>Column <paramref name="pixel"/> of image n of a GEMM's input: where its window's origin lies in x (it may
/// lie before the image, in the padding) and the bounds a tap must fall in. 1 × 1 GEMMs have a 1 × 1 window on a 1 × 1
/// image; columns past the pixels an origin no tap reaches.</summary>
public readonly struct WindowColumn(long start, int originY, int originX, int height, int width)
{
    public static WindowColumn Of(PointwiseGeometry g, int n, int pixel)
    {
        // Far enough out that no tap's row reaches the image, near enough that no sum overflows.
        const int nowhere = int.MinValue / 2;
        if (g.Windowed == 0)
            return new WindowColumn(PointwiseInput.ImageStart(g.InImageStride, n, (long)g.Channels * g.Pixels) + pixel, pixel < g.Pixels ? 0 : nowhere, 0, 1, 1);
        var win = g.Window;
        var origin = PointwiseInput.WindowOrigin(g, pixel);
        long image = PointwiseInput.ImageStart(g.InImageStride, n, (long)win.Channels * win.Height * win.Width);
        return new WindowColumn(image + (long)origin.Y * win.Width + origin.X, pixel < g.Pixels ? origin.Y : nowhere, origin.X, win.Height, win.Width);
    }

    /// <summary>Where row's value of this column is in x, or -1 (padding, past the pixels, past the slice).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long At(WindowRow row)
    {
        int iy = originY + (row.Tap >> 16), ix = originX + (row.Tap & 0xFFFF);
        // & rather than &&: predicates, no branches.
        bool inside = row.Tap >= 0 & (uint)iy < (uint)height & (uint)ix < (uint)width;
        return inside ? start + row.Offset : -1;
    }
}

/// <summary>A lane's four A registers of a 16 × 8 TF32 mma tile: (row quad, k pair), (quad + 8, pair), (quad, pair + 4),
/// (quad + 8, pair + 4).</summary>
public struct Fragment
{
    public uint R0, R1, R2, R3;
}

/// <summary>A lane's accumulators of one 16 × 8 mma tile: C0, C1 at (row quad; columns 2·pair, 2·pair + 1), C2, C3 at
/// the same columns of row quad + 8.</summary>
public struct Accumulator
{
    public float C0, C1, C2, C3;
}

/// <summary>A warp's 32 × 32 block: 2 row tiles × 4 column tiles of accumulators, as fields so they stay in registers.</summary>
internal struct WarpTile
{
    public Accumulator T00, T01, T02, T03, T10, T11, T12, T13;

    /// <summary>One k8 step: the two row tiles (A fragments by ldmatrix from the lane's row address <paramref name="a"/>
    /// and 16 rows below it) times the four column tiles (B words from <paramref name="b"/>, the lane's (k pair, column
    /// quad) of the input tile, whose k rows are <paramref name="inputStride"/> words apart). Two ldmatrix take the place
    /// of eight word loads: 4 % less time on YOLOv8n's tensor-core layers at batch 32 on the H100
    /// (docs/results/2026-12-07-h100-quads).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Multiply<TIsa>(ArrayView<uint> shared, uint a, ArrayView<uint> xTile, int b, int inputStride) where TIsa : struct, ITensorCoreIsa
    {
        int k4 = 4 * inputStride;
        var top = default(TIsa).LoadMatrices(shared, a);
        var bottom = default(TIsa).LoadMatrices(shared, a + 4u * 16 * TensorCoreConvolutionKernel.WeightStride);
        // Written out per column (no loop, no refs) so the accumulators stay in registers.
        (T00, T10) = Column<TIsa>(T00, T10, top, bottom, xTile[b], xTile[b + k4]);
        (T01, T11) = Column<TIsa>(T01, T11, top, bottom, xTile[b + 8], xTile[b + k4 + 8]);
        (T02, T12) = Column<TIsa>(T02, T12, top, bottom, xTile[b + 16], xTile[b + k4 + 16]);
        (T03, T13) = Column<TIsa>(T03, T13, top, bottom, xTile[b + 24], xTile[b + k4 + 24]);
    }

    /// <summary>One k16 step on FP16 operands (<see cref="Fp16TensorCoreConvolutionKernel"/>): the two row tiles' A
    /// fragments by ldmatrix from the lane's row address <paramref name="a"/> and 16 rows below it
    /// (<paramref name="lowerRowTile"/> bytes on), the four column tiles'
    /// B fragments by two transposing ldmatrix from the lane's address <paramref name="b"/> in the FP16 input tile and 16
    /// columns right of it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MultiplyHalves<TIsa>(ArrayView<uint> shared, uint a, uint b, uint lowerRowTile) where TIsa : struct, ITensorCoreIsa
    {
        var top = default(TIsa).LoadMatrices(shared, a);
        var bottom = default(TIsa).LoadMatrices(shared, a + lowerRowTile);
        var left = default(TIsa).LoadMatricesTransposed(shared, b);
        var right = default(TIsa).LoadMatricesTransposed(shared, b + 32);
        (T00, T10) = HalfColumn<TIsa>(T00, T10, top, bottom, left.R0, left.R1);
        (T01, T11) = HalfColumn<TIsa>(T01, T11, top, bottom, left.R2, left.R3);
        (T02, T12) = HalfColumn<TIsa>(T02, T12, top, bottom, right.R0, right.R1);
        (T03, T13) = HalfColumn<TIsa>(T03, T13, top, bottom, right.R2, right.R3);
    }

    private static (Accumulator Top, Accumulator Bottom) HalfColumn<TIsa>(Accumulator upper, Accumulator lower, Fragment top, Fragment bottom, uint b0, uint b1) where TIsa : struct, ITensorCoreIsa =>
        (default(TIsa).MmaHalves(upper, top, b0, b1), default(TIsa).MmaHalves(lower, bottom, b0, b1));

    private static (Accumulator Top, Accumulator Bottom) Column<TIsa>(Accumulator upper, Accumulator lower, Fragment top, Fragment bottom, uint b0, uint b1) where TIsa : struct, ITensorCoreIsa =>
        (default(TIsa).MmaTf32(upper, top, b0, b1), default(TIsa).MmaTf32(lower, bottom, b0, b1));

    /// <summary>Bias, activation and store; (row, column) is the lane's first output of the warp's block. The lane's
    /// outputs lie on four rows (row, + 8, + 16, + 24), eight columns each.</summary>
    public readonly void Store(PointwiseOutput output, int row, int column)
    {
        Store(output.Row(row), output.Row(row + 8), column, T00, T01, T02, T03);
        Store(output.Row(row + 16), output.Row(row + 24), column, T10, T11, T12, T13);
    }

    private static void Store(OutputRow upper, OutputRow lower, int column, Accumulator a0, Accumulator a1, Accumulator a2, Accumulator a3)
    {
        Store(upper, lower, column, a0);
        Store(upper, lower, column + 8, a1);
        Store(upper, lower, column + 16, a2);
        Store(upper, lower, column + 24, a3);
    }

    private static void Store(OutputRow upper, OutputRow lower, int column, Accumulator a)
    {
        upper.Store(column, a.C0);
        upper.Store(column + 1, a.C1);
        lower.Store(column, a.C2);
        lower.Store(column + 1, a.C3);
    }
}