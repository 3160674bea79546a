using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>What a GEMM planned on tensor cores multiplies (<see cref="PointwiseGeometry.TensorCores"/>).</summary>
public static class TensorCorePrecision
{
    /// <summary>TF32 operands, read from the FP32 tensors as they lie (<see cref="TensorCoreConvolutionKernel"/>).</summary>
    public const int Tf32 = 1;
    /// <summary>FP16 operands rounded from the FP32 tensors (<see cref="Fp16TensorCoreConvolutionKernel"/>).</summary>
    public const int Fp16 = 2;
    /// <summary>FP16 operands, a 3 × 3 layer's inputs copied as row segments and its weights stored in FP16
    /// (<see cref="RowSegmentConvolutionKernel"/>).</summary>
    public const int Fp16RowSegments = 3;
}

/// <summary>The tensor-core GEMM of <see cref="TensorCoreConvolutionKernel"/> on FP16 operands, for geometries planned with
/// <see cref="PointwiseGeometry.TensorCores"/> = <see cref="TensorCorePrecision.Fp16"/>:
/// <c>mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32</c>, twice the reduction an instruction of the TF32 form, with both
/// operands' fragments by <c>ldmatrix</c> (the inputs' by its transposing form); sums, bias, activation and the stored output
/// stay FP32. A warp's k-step of 32 is 8 <c>ldmatrix</c> and 16 <c>mma</c>, where the TF32 kernel's is 8 <c>ldmatrix</c>, 32
/// word loads and 32 <c>mma</c>. The tensors stay FP32 in memory: inputs reach shared memory by the TF32 kernel's
/// <c>cp.async</c> copies (double-buffered) and one pass of the group rounds each k-step to FP16; weights (rows of a multiple
/// of 4 values from a 16-byte boundary: <see cref="Fits"/>) travel through registers, loaded a k-step ahead and rounded as
/// they are stored. FP16 keeps TF32's 10 mantissa bits but 5 exponent bits: an operand beyond ±65504 becomes infinite, one
/// below 6·10⁻⁵ loses bits. Same grid, groups and tiles as the TF32 kernel, the same instruction sets.</summary>
public static class Fp16TensorCoreConvolutionKernel
{
    private const int KStep = TensorCoreConvolutionKernel.KStep, Stages = TensorCoreConvolutionKernel.Stages;

    /// <summary>Halves a weight row of a stage takes, [out channel][k]: 32 k + 8, so that the 8 rows an <c>ldmatrix</c>
    /// matrix reads (80 bytes apart) fall on 8 different 16-byte bank groups.</summary>
    internal const int WeightStride = KStep + 8;

    /// <summary>Whether g's weight rows can be loaded 4 values at a time (their start must also be 16-byte aligned, which
    /// the launch checks).</summary>
    public static bool Fits(PointwiseGeometry g) => g.Channels % 4 == 0;

    /// <summary>As <see cref="TensorCoreConvolutionKernel.Run{TTile, TFunction, TIsa}"/>, whose parameters it takes.</summary>
    public static void Run<TTile, TFunction, TIsa>(long x, long w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y, PointwiseGeometry g,
        Activation activation) where TTile : struct, ITensorCoreTile where TFunction : struct, IFusedFunction where TIsa : struct, ITensorCoreIsa
    {
        var layout = new TileLayout(default(TTile).WarpRows);
        // One allocation (see ITensorCoreIsa.SharedBase), in words: the FP16 weight stages, the FP32 input stages the copies fill,
        // the FP16 input tile of the k-step being multiplied ([k][column], as many halves a row as the FP32 stages have words).
        int weightStage = layout.Rows * WeightStride / 2, inputBase = Stages * weightStage, halfBase = inputBase + Stages * layout.InputStage;
        var tiles = SharedMemory.Allocate<uint>(halfBase + KStep * layout.InputStride / 2);
        var o = new TileOrigin(layout, g);
        int kBegin = o.KBegin, kEnd = o.KEnd;
        uint shared = default(TIsa).SharedBase();
        long wImage = w + 4L * o.Image * g.WeightImageStride;
        var copies = new TileCopies(layout, x, wImage, g, o.Image, o.M0, o.P0, o.Thread, shared, shared + 4u * (uint)inputBase);
        var weights = new WeightQuadLoads(layout, wImage, g, o.M0, o.Thread);
        // The first weights' loads are in flight while the first input copies are issued.
        var first = weights.Load<TIsa>(kBegin, kEnd);
        copies.IssueInputs<TIsa>(tiles, 0, kBegin, kEnd);
        default(TIsa).Commit();
        weights.Store<TIsa>(tiles, 0, first);
        var fragments = new HalfFragments(layout, shared, halfBase, o.Warp, o.Lane);
        WarpTile acc = default;
        int stage = 0;
        for (int k0 = kBegin; k0 < kEnd; k0 += KStep)
        {
            bool more = k0 + KStep < kEnd;
            if (more) copies.IssueInputs<TIsa>(tiles, 1 - stage, k0 + KStep, kEnd);
            default(TIsa).Commit();
            var next = more ? weights.Load<TIsa>(k0 + KStep, kEnd) : default;
            default(TIsa).WaitAllButNewest();
            // Also: every warp is done multiplying the last k-step's FP16 inputs, which the rounding overwrites.
            Group.Barrier();
            RoundInputs<TIsa>(tiles, shared + 4u * (uint)(inputBase + stage * layout.InputStage), halfBase, layout, o.Thread);
            Group.Barrier();
            fragments.Multiply<TIsa>(tiles, ref acc, stage, 0);
            // The other stage's weights were last read by the previous k-step, before this one's first barrier.
            if (more) weights.Store<TIsa>(tiles, 1 - stage, next);
            stage = 1 - stage;
        }
        o.Store<TFunction>(acc, bias, residual, y, g, activation);
    }

    /// <summary>As <see cref="Run{TTile, TFunction, TIsa}"/> for 1 × 1 GEMMs whose input rows can be read 16 bytes at a time
    /// (<see cref="PointwiseGeometry.InputChunks"/>): inputs take the weights' way, loaded a k-step ahead into registers and
    /// rounded as they are stored into double-buffered FP16 stages; no FP32 stage, no rounding pass, one barrier a k-step,
    /// and 19 KB of shared memory instead of 33 (64 × 64 tiles), so more groups fit a multiprocessor.</summary>
    public static void RunChunkedInputs<TTile, TFunction, TIsa>(long x, long w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y,
        PointwiseGeometry g, Activation activation) where TTile : struct, ITensorCoreTile where TFunction : struct, IFusedFunction where TIsa : struct, ITensorCoreIsa
    {
        var layout = new TileLayout(default(TTile).WarpRows);
        // One allocation, in words: the FP16 weight stages, then the FP16 input stages ([k][column]).
        int weightStage = layout.Rows * WeightStride / 2, inputBase = Stages * weightStage, inputStage = KStep * layout.InputStride / 2;
        var tiles = SharedMemory.Allocate<uint>(inputBase + Stages * inputStage);
        var o = new TileOrigin(layout, g);
        int kBegin = o.KBegin, kEnd = o.KEnd;
        uint shared = default(TIsa).SharedBase();
        var weights = new WeightQuadLoads(layout, w + 4L * o.Image * g.WeightImageStride, g, o.M0, o.Thread);
        var inputs = new InputQuadLoads(layout, x, g, o.Image, o.P0, o.Thread, inputBase);
        weights.Store<TIsa>(tiles, 0, weights.Load<TIsa>(kBegin, kEnd));
        inputs.Store<TIsa>(tiles, 0, inputs.Load<TIsa>(kBegin, kEnd));
        var fragments = new HalfFragments(layout, shared, inputBase, o.Warp, o.Lane);
        WarpTile acc = default;
        int stage = 0;
        for (int k0 = kBegin; k0 < kEnd; k0 += KStep)
        {
            bool more = k0 + KStep < kEnd;
            var nextWeights = more ? weights.Load<TIsa>(k0 + KStep, kEnd) : default;
            var nextInputs = more ? inputs.Load<TIsa>(k0 + KStep, kEnd) : default;
            // This stage's stores are visible, and every warp is done with the other stage (the previous k-step's).
            Group.Barrier();
            fragments.Multiply<TIsa>(tiles, ref acc, stage, 4u * (uint)(stage * inputStage));
            if (more)
            {
                weights.Store<TIsa>(tiles, 1 - stage, nextWeights);
                inputs.Store<TIsa>(tiles, 1 - stage, nextInputs);
            }
            stage = 1 - stage;
        }
        o.Store<TFunction>(acc, bias, residual, y, g, activation);
    }

    /// <summary>The group rounds the FP32 input stage at <paramref name="stage"/> (shared byte address) into the FP16 tile
    /// at word <paramref name="halfBase"/>: each thread 4 adjacent values of a row at a time.</summary>
    private static void RoundInputs<TIsa>(ArrayView<uint> tiles, uint stage, int halfBase, TileLayout layout, int t) where TIsa : struct, ITensorCoreIsa
    {
        int quadsPerRow = layout.Columns / 4, rowsAtOnce = TensorCoreConvolutionKernel.GroupSize / quadsPerRow;
        int row = t / quadsPerRow, column = 4 * (t % quadsPerRow);
        for (int i = 0; i < KStep / rowsAtOnce; i++)
        {
            int at = (row + rowsAtOnce * i) * layout.InputStride + column;
            default(TIsa).SharedQuad(tiles, stage + 4u * (uint)at).Store<TIsa>(tiles, halfBase + at / 2);
        }
    }
}

/// <summary>A lane's warp's place in the tile (<see cref="TensorCoreConvolutionKernel.Run{TTile, TFunction, TIsa}"/>'s 32 × 32
/// blocks) and its <c>ldmatrix</c> row addresses in the FP16 stages: lanes 8j..8j+7 give matrix j's rows, matrices (rows
/// 0-7, k 0-7), (8-15, k 0-7), (0-7, k 8-15), (8-15, k 8-15) of the weights [row][k], the mma's a0..a3; of the inputs
/// [k][column] the same k rows and columns + 8 for lanes 16-31, transposed: (b0, b1) of a column tile, then of the next.</summary>
internal readonly struct HalfFragments
{
    public readonly int RowBase, ColumnBase;
    private readonly uint _a, _b, _k16Rows, _weightStage, _lowerRowTile;

    /// <summary>The lane's row address for the A fragments of the first k16 step of weight stage 0.</summary>
    public uint WeightAddress => _a;

    /// <summary>The lane's row address for the B fragments of the first k16 step of the first input stage.</summary>
    public uint InputAddress => _b;

    /// <param name="inputWord">Where the (first) FP16 input stage starts, in words from <paramref name="shared"/>; the
    /// weight stages start at <paramref name="shared"/>.</param>
    /// <param name="weightStride">Halves a weight row of a stage takes.</param>
    public HalfFragments(TileLayout layout, uint shared, int inputWord, int warp, int lane, int weightStride = Fp16TensorCoreConvolutionKernel.WeightStride)
    {
        RowBase = layout.WarpRow(warp);
        ColumnBase = layout.WarpColumn(warp);
        int matrixRow = lane % 8 + 8 * (lane / 8 % 2), matrixColumn = 8 * (lane / 16);
        _a = shared + 2u * (uint)((RowBase + matrixRow) * weightStride + matrixColumn);
        _b = shared + 4u * (uint)inputWord + 2u * (uint)(matrixRow * layout.InputStride + ColumnBase + matrixColumn);
        _k16Rows = 2u * 16 * (uint)layout.InputStride;
        _weightStage = 2u * (uint)(layout.Rows * weightStride);
        _lowerRowTile = 2u * 16 * (uint)weightStride;
    }

    /// <summary>A k-step of 32 (two of 16) on weight stage <paramref name="stage"/> and the inputs
    /// <paramref name="inputOffset"/> bytes past the first input stage.</summary>
    public void Multiply<TIsa>(ArrayView<uint> shared, ref WarpTile acc, int stage, uint inputOffset) where TIsa : struct, ITensorCoreIsa
    {
        uint a = _a + (uint)stage * _weightStage, b = _b + inputOffset;
        acc.MultiplyHalves<TIsa>(shared, a, b, _lowerRowTile);
        acc.MultiplyHalves<TIsa>(shared, a + 32, b + _k16Rows, _lowerRowTile);
    }

    /// <summary>A k-step of 48 (three of 16, <see cref="RowSegmentConvolutionKernel"/>) on weight stage
    /// <paramref name="stage"/> and the one input tile.</summary>
    public void MultiplyThree<TIsa>(ArrayView<uint> shared, ref WarpTile acc, int stage) where TIsa : struct, ITensorCoreIsa
    {
        uint a = _a + (uint)stage * _weightStage;
        acc.MultiplyHalves<TIsa>(shared, a, _b, _lowerRowTile);
        acc.MultiplyHalves<TIsa>(shared, a + 32, _b + _k16Rows, _lowerRowTile);
        acc.MultiplyHalves<TIsa>(shared, a + 64, _b + 2 * _k16Rows, _lowerRowTile);
    }
}

/// <summary>4 adjacent values: on their way to an FP16 stage, or sums of 4 out channels.</summary>
public readonly record struct Quad(float X, float Y, float Z, float W)
{
    /// <summary>Each value plus v times w's.</summary>
    public Quad PlusScaled(float v, Quad w) => new(X + v * w.X, Y + v * w.Y, Z + v * w.Z, W + v * w.W);

    /// <summary>The values rounded into the two words of <paramref name="tiles"/> from <paramref name="word"/> on.</summary>
    public void Store<TIsa>(ArrayView<uint> tiles, int word) where TIsa : struct, ITensorCoreIsa
    {
        tiles[word] = default(TIsa).Halves(X, Y);
        tiles[word + 1] = default(TIsa).Halves(Z, W);
    }
}

/// <summary>The global byte address of 4 adjacent values a thread loads, and whether it loads them (else zeros).</summary>
internal readonly record struct QuadSource(long Address, bool Valid)
{
    /// <summary>The 4 values, or zeros where not valid (nothing read).</summary>
    public Quad Load<TIsa>() where TIsa : struct, ITensorCoreIsa => Valid ? default(TIsa).GlobalQuad(Address) : default;
}

/// <summary>A thread's weights of a k-step, loaded ahead into registers: up to four rows' 4 adjacent values.</summary>
internal readonly record struct WeightQuads(Quad Q0, Quad Q1, Quad Q2, Quad Q3);

/// <summary>One thread's share of a k-step's weights for <see cref="Fp16TensorCoreConvolutionKernel"/>: w[m0 + t / 8 + 16 i,
/// k + 4 (t % 8) …] for i below the tile's rows / 16 (4 or 2), loaded 16 bytes at a time (zeros outside the weights: a
/// quad lies wholly inside or outside, rows being a multiple of 4 values and slices whole k-steps) and stored rounded into
/// a stage, [row][k] in halves, <see cref="Fp16TensorCoreConvolutionKernel.WeightStride"/> a row.</summary>
internal readonly struct WeightQuadLoads
{
    private const int KQuads = TensorCoreConvolutionKernel.KStep / 4, RowStep = TensorCoreConvolutionKernel.GroupSize / KQuads;
    private readonly long _row, _rowStep;
    private readonly int _k, _rows, _quads, _stage, _target;

    public WeightQuadLoads(TileLayout layout, long w, PointwiseGeometry g, int m0, int t)
    {
        int m = m0 + t / KQuads;
        _k = 4 * (t % KQuads);
        _row = w + 4L * ((long)m * g.Channels + _k);
        _rowStep = 4L * RowStep * g.Channels;
        _quads = layout.Rows / RowStep;
        _rows = TileCopies.OutChannelRows(g, m, RowStep, _quads);
        _stage = layout.Rows * Fp16TensorCoreConvolutionKernel.WeightStride / 2;
        _target = (t / KQuads * Fp16TensorCoreConvolutionKernel.WeightStride + _k) / 2;
    }

    /// <summary>How many quads a thread takes a k-step: the tile's rows / 16.</summary>
    public int Quads => _quads;

    /// <summary>Where quad <paramref name="i"/> of the k-step from <paramref name="k0"/> lies in global memory; not valid
    /// outside the weights (stored as zeros).</summary>
    public QuadSource Source(int k0, int kEnd, int i) => At(First(k0, kEnd), i);

    /// <summary>Quad 0's address, and whether the thread's k lies in the slice.</summary>
    private QuadSource First(int k0, int kEnd) => new(_row + 4L * k0, k0 + _k < kEnd);

    private QuadSource At(QuadSource first, int i) => new(first.Address + i * _rowStep, first.Valid & i < _rows);

    /// <summary>The word of the weight stages (from word 0) where quad <paramref name="i"/>'s two words go.</summary>
    public int TargetWord(int stage, int i) => stage * _stage + _target + i * RowWords;

    /// <summary>Words between a thread's rows in a stage.</summary>
    private const int RowWords = RowStep * Fp16TensorCoreConvolutionKernel.WeightStride / 2;

    public WeightQuads Load<TIsa>(int k0, int kEnd) where TIsa : struct, ITensorCoreIsa
    {
        var first = First(k0, kEnd);
        return new(At(first, 0).Load<TIsa>(), At(first, 1).Load<TIsa>(), At(first, 2).Load<TIsa>(), At(first, 3).Load<TIsa>());
    }

    /// <summary>Rounds <paramref name="q"/> into stage <paramref name="stage"/> of the weight stages at word 0 of
    /// <paramref name="tiles"/>; rows past the tile's are not stored.</summary>
    public void Store<TIsa>(ArrayView<uint> tiles, int stage, WeightQuads q) where TIsa : struct, ITensorCoreIsa
    {
        int at = TargetWord(stage, 0);
        q.Q0.Store<TIsa>(tiles, at);
        q.Q1.Store<TIsa>(tiles, at + RowWords);
        if (_quads <= 2) return;
        q.Q2.Store<TIsa>(tiles, at + 2 * RowWords);
        q.Q3.Store<TIsa>(tiles, at + 3 * RowWords);
    }
}

/// <summary>A thread's inputs of a k-step for <see cref="Fp16TensorCoreConvolutionKernel.RunChunkedInputs{TTile, TFunction, TIsa}"/>,
/// loaded ahead into registers: 4 adjacent pixels of up to 8 k rows.</summary>
internal readonly record struct InputQuads(Quad Q0, Quad Q1, Quad Q2, Quad Q3, Quad Q4, Quad Q5, Quad Q6, Quad Q7);

/// <summary>One thread's share of a k-step's inputs of a 1 × 1 GEMM: x[k + t / (C / 4) + (512 / C) i, p0 + 4 (t % (C / 4))
/// …] for a tile of C columns (4 passes of 8 rows for 64 columns, 8 of 4 for 128), 16 bytes at a time (zeros past the
/// pixels or the slice: the pixels are a multiple of 4), stored rounded into an FP16 input stage, [k][column].</summary>
internal readonly struct InputQuadLoads
{
    private readonly long _column, _rowBytes, _quadBytes;
    private readonly int _k, _rowsAtOnce, _passes, _stride, _target;
    private readonly bool _valid;

    public InputQuadLoads(TileLayout layout, long x, PointwiseGeometry g, int n, int p0, int t, int stagesWord)
    {
        int quadsPerRow = layout.Columns / 4, pixel = p0 + 4 * (t % quadsPerRow);
        _k = t / quadsPerRow;
        _rowsAtOnce = TensorCoreConvolutionKernel.GroupSize / quadsPerRow;
        _passes = TensorCoreConvolutionKernel.KStep / _rowsAtOnce;
        _rowBytes = 4L * g.Pixels;
        _quadBytes = _rowBytes * _rowsAtOnce;
        _column = x + 4L * (PointwiseInput.ImageStart(g.InImageStride, n, (long)g.Channels * g.Pixels) + pixel);
        _valid = pixel < g.Pixels;
        _stride = layout.InputStride;
        _target = stagesWord * 2 + _k * layout.InputStride + pixel - p0;
    }

    /// <summary>How many quads a thread takes a k-step: 4 for 64 columns, 8 for 128.</summary>
    public int Quads => _passes;

    /// <summary>Where quad <paramref name="i"/> of the k-step from <paramref name="k0"/> lies in global memory; not valid
    /// past the pixels or the slice (stored as zeros).</summary>
    public QuadSource Source(int k0, int kEnd, int i) => At(k0 + _k, kEnd, i, First(k0 + _k));

    /// <summary>The address of the thread's quad on row <paramref name="k"/>.</summary>
    private long First(int k) => _column + _rowBytes * k;

    /// <summary>Quad i of the thread's rows from row <paramref name="k"/> (at <paramref name="first"/>) on.</summary>
    private QuadSource At(int k, int kEnd, int i, long first) =>
        new(first + i * _quadBytes, i < _passes & _valid & k + i * _rowsAtOnce < kEnd);

    /// <summary>The word (from word 0 of the shared memory) where quad <paramref name="i"/>'s two words go.</summary>
    public int TargetWord(int stage, int i) => (_target + stage * TensorCoreConvolutionKernel.KStep * _stride) / 2 + i * QuadWords;

    /// <summary>Words between a thread's quads in a stage: _rowsAtOnce rows.</summary>
    private int QuadWords => _rowsAtOnce * _stride / 2;

    public InputQuads Load<TIsa>(int k0, int kEnd) where TIsa : struct, ITensorCoreIsa
    {
        int k = k0 + _k;
        long first = First(k);
        return new(At(k, kEnd, 0, first).Load<TIsa>(), At(k, kEnd, 1, first).Load<TIsa>(), At(k, kEnd, 2, first).Load<TIsa>(), At(k, kEnd, 3, first).Load<TIsa>(),
            At(k, kEnd, 4, first).Load<TIsa>(), At(k, kEnd, 5, first).Load<TIsa>(), At(k, kEnd, 6, first).Load<TIsa>(), At(k, kEnd, 7, first).Load<TIsa>());
    }

    /// <summary>Rounds <paramref name="q"/> into input stage <paramref name="stage"/>.</summary>
    public void Store<TIsa>(ArrayView<uint> tiles, int stage, InputQuads q) where TIsa : struct, ITensorCoreIsa
    {
        int at = TargetWord(stage, 0), step = QuadWords;
        q.Q0.Store<TIsa>(tiles, at);
        q.Q1.Store<TIsa>(tiles, at + step);
        q.Q2.Store<TIsa>(tiles, at + 2 * step);
        q.Q3.Store<TIsa>(tiles, at + 3 * step);
        if (_passes <= 4) return;
        q.Q4.Store<TIsa>(tiles, at + 4 * step);
        q.Q5.Store<TIsa>(tiles, at + 5 * step);
        q.Q6.Store<TIsa>(tiles, at + 6 * step);
        q.Q7.Store<TIsa>(tiles, at + 7 * step);
    }
}
