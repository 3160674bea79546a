using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace MoeDetect.Kernels.Tensors;

/// <summary>The tiled GEMM of <see cref="PointwiseConvolutionKernel"/> on tensor cores, for geometries planned with
/// <see cref="PointwiseGeometry.TensorCores"/> = 1: inline PTX <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c>
/// (sm_80 and later) on the FP32 tensors as they are, the tensor cores reading each operand's upper 19 bits (TF32: FP32's
/// range, FP16's 10-bit mantissa); sums, bias, activation and the stored output stay FP32. It takes everything the SIMT
/// GEMM takes but the input scale: implicit-GEMM windows, residual, split-K slices (raw partials, summed by
/// <see cref="PointwiseConvolutionKernel.SumSlices"/>).
/// Grid (pixel tiles of 64, out-channel tiles of 64, batch × slices), groups of 128 threads: 2 × 2 warps, each warp a
/// 32 × 32 block of 2 × 4 mma tiles (16 × 8). Operands travel global → shared memory by <c>cp.async</c>, never through
/// registers, double-buffered: a k-step's copies are in flight while the group multiplies the previous one. The FP16
/// kernel before it loaded through registers and was bound by those loads (docs/results/2026-12-05-h100-tensor-cores).
/// CUDA only: the CPU accelerator cannot run PTX (the SIMT kernel computes the same in FP32; <c>ilgpu-bench kernels</c>
/// checks the two against each other on the GPU).</summary>
public static class TensorCoreConvolutionKernel
{
    public const int GroupSize = 128, Tile = 64;
    internal const int KStep = 32, Stages = 2;
    // Row strides in words. Weights [out channel][k], 32 k + 4: a fragment's 8 rows × 4 k fall on 32 banks. Inputs
    // [k][pixel], 64 pixels + 8: a fragment's 4 k rows × 8 pixels fall on 32 banks.
    internal const int WeightStride = KStep + 4, InputStride = Tile + 8;
    internal const int WeightStage = Tile * WeightStride, InputStage = KStep * InputStride;
    /// <summary>Copies a thread issues per operand and k-step: 64 × 32 values over 128 threads.</summary>
    internal const int CopiesPerThread = Tile * KStep / GroupSize;

    /// <param name="x">The input's device address (<see cref="PointwiseInput"/>'s tensor; the copies need addresses,
    /// which ILGPU does not give out inside a kernel).</param>
    /// <param name="w">The weights' device address, [out channels, channels].</param>
    public static void Run(long x, long w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y, PointwiseGeometry g,
        Activation activation)
    {
        // One allocation (see AsyncCopy.SharedBase): the weight stages, then the input stages.
        var tiles = SharedMemory.Allocate<uint>(Stages * (WeightStage + InputStage));
        var wTiles = tiles.SubView(0, Stages * WeightStage);
        var xTiles = tiles.SubView(Stages * WeightStage);
        int t = Group.IdxX, lane = t % 32, warp = t / 32;
        int m0 = Grid.IdxY * Tile, p0 = Grid.IdxX * Tile, n = Grid.IdxZ / g.Slices, slice = Grid.IdxZ % g.Slices;
        int kBegin = slice * g.SliceChannels, kEnd = Math.Min(g.Channels, kBegin + g.SliceChannels);
        uint shared = AsyncCopy.SharedBase();
        var copies = new TileCopies(x, w, g, n, m0, p0, t, shared, shared + 4u * Stages * WeightStage);
        copies.Issue(0, kBegin, kEnd);
        AsyncCopy.Commit();
        int rowBase = warp / 2 * 32, colBase = warp % 2 * 32;
        int quad = lane / 4, pair = lane % 4;
        // This lane's first A word (row quad, k pair) and B word (k pair, column quad) of a stage.
        int aAt = (rowBase + quad) * WeightStride + pair, bAt = pair * InputStride + colBase + quad;
        WarpTile acc = default;
        int stage = 0;
        for (int k0 = kBegin; k0 < kEnd; k0 += KStep)
        {
            if (k0 + KStep < kEnd) copies.Issue(1 - stage, k0 + KStep, kEnd);
            // Always a group, even an empty one, so that "all but the newest" is this stage's copies.
            AsyncCopy.Commit();
            AsyncCopy.WaitAllButNewest();
            Group.Barrier();
            int a = stage * WeightStage + aAt, b = stage * InputStage + bAt;
            acc.Multiply(wTiles, a, xTiles, b);
            acc.Multiply(wTiles, a + 8, xTiles, b + 8 * InputStride);
            acc.Multiply(wTiles, a + 16, xTiles, b + 16 * InputStride);
            acc.Multiply(wTiles, a + 24, xTiles, b + 24 * InputStride);
            // Everyone is done reading this stage before the next iteration's copies overwrite it.
            Group.Barrier();
            stage = 1 - stage;
        }
        bool partial = g.Slices > 1;
        var output = new PointwiseOutput(y, bias, residual, g, partial ? slice * g.Batch + n : n, activation, partial);
        acc.Store(output, m0 + rowBase + quad, p0 + colBase + 2 * pair);
    }

    /// <summary>D = A·B + D for one 16 × 8 tile (A 16 × 8 row-major, B 8 × 8 column-major, TF32 in, FP32 accumulators).
    /// <c>EmitRef</c>, because mma has four outputs and the by-value <c>Emit</c> takes one. ILGPU passes each operand
    /// through a local-memory slot; the engine loads this kernel through its PTX rewrite that makes those registers.</summary>
    internal static Accumulator Mma(Accumulator d, Fragment a, uint b0, uint b1)
    {
        Ref<float> d0 = d.C0, d1 = d.C1, d2 = d.C2, d3 = d.C3;
        Input<uint> a0 = a.R0, a1 = a.R1, a2 = a.R2, a3 = a.R3, bLow = b0, bHigh = b1;
        CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
            ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref bLow, ref bHigh);
        return new Accumulator { C0 = d0.Value, C1 = d1.Value, C2 = d2.Value, C3 = d3.Value };
    }
}

/// <summary>sm_80's asynchronous global → shared copies (<c>cp.async</c>), 4 bytes each, zero-filled where the source
/// is outside the operand (padding, tile edges).</summary>
internal static class AsyncCopy
{
    /// <summary>The shared-space byte address of the kernel's shared memory: ILGPU names a kernel's shared allocations
    /// <c>__shared_alloca0</c>, 1, … in the order they are made, and cannot hand out a view's address inside a kernel,
    /// so a kernel using this makes exactly one allocation (a misnamed symbol fails when the PTX is loaded, not later).</summary>
    public static uint SharedBase()
    {
        CudaAsm.Emit("mov.u32 %0, __shared_alloca0;", out uint address);
        return address;
    }

    /// <summary>Copies the 4 bytes at <paramref name="source"/> (a global address) to shared byte address
    /// <paramref name="target"/>; zeros where <paramref name="valid"/> is false (the source is then not read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy(uint target, long source, bool valid) =>
        CudaAsm.Emit("{ .reg .u64 g; cvta.to.global.u64 g, %1; cp.async.ca.shared.global [%0], [g], 4, %2; }", target, source, valid ? 4u : 0u);

    public static void Commit() => CudaAsm.Emit("cp.async.commit_group;");

    /// <summary>Waits for every committed group but the newest.</summary>
    public static void WaitAllButNewest() => CudaAsm.Emit("cp.async.wait_group 1;");
}

/// <summary>One thread's share of a k-step's copies into a stage: weights w[m0 + t / 32 + 4 i, k + t % 32] (a warp
/// copies 32 consecutive k of one out channel) and inputs x[k + t / 64 + 2 i, p0 + t % 64] (32 consecutive pixels of
/// one k row), i = 0 … 15.</summary>
internal readonly struct TileCopies
{
    private readonly long _x, _w;
    private readonly PointwiseGeometry _g;
    private readonly int _n, _m, _wk, _pixel, _xk;
    private readonly uint _wTarget, _xTarget;
    /// <summary>This thread's pixel's window origin (<see cref="PointwiseInput.WindowOrigin"/>).</summary>
    private readonly Index2D _origin;

    public TileCopies(long x, long w, PointwiseGeometry g, int n, int m0, int p0, int t, uint wShared, uint xShared)
    {
        _x = x;
        _w = w;
        _g = g;
        _n = n;
        _m = m0 + t / TensorCoreConvolutionKernel.KStep;
        _wk = t % TensorCoreConvolutionKernel.KStep;
        _pixel = p0 + t % TensorCoreConvolutionKernel.Tile;
        _xk = t / TensorCoreConvolutionKernel.Tile;
        _wTarget = wShared + 4u * (uint)(t / TensorCoreConvolutionKernel.KStep * TensorCoreConvolutionKernel.WeightStride + _wk);
        _xTarget = xShared + 4u * (uint)(_xk * TensorCoreConvolutionKernel.InputStride + t % TensorCoreConvolutionKernel.Tile);
        _origin = PointwiseInput.WindowOrigin(g, _pixel);
    }

    public void Issue(int stage, int k0, int kEnd)
    {
        const int rows = TensorCoreConvolutionKernel.GroupSize / TensorCoreConvolutionKernel.KStep;
        const int kRows = TensorCoreConvolutionKernel.GroupSize / TensorCoreConvolutionKernel.Tile;
        uint wTarget = _wTarget + 4u * (uint)(stage * TensorCoreConvolutionKernel.WeightStage);
        uint xTarget = _xTarget + 4u * (uint)(stage * TensorCoreConvolutionKernel.InputStage);
        int wk = k0 + _wk;
        for (int i = 0; i < TensorCoreConvolutionKernel.CopiesPerThread; i++)
        {
            int m = _m + rows * i;
            bool valid = m < _g.OutChannels && wk < kEnd;
            AsyncCopy.Copy(wTarget + 4u * (uint)(rows * i * TensorCoreConvolutionKernel.WeightStride), _w + 4L * (valid ? (long)m * _g.Channels + wk : 0), valid);
            int k = k0 + _xk + kRows * i;
            long at = k < kEnd && _pixel < _g.Pixels ? PointwiseInput.Offset(_g, _n, k, _pixel, _origin) : -1;
            AsyncCopy.Copy(xTarget + 4u * (uint)(kRows * i * TensorCoreConvolutionKernel.InputStride), _x + 4L * Math.Max(at, 0), at >= 0);
        }
    }
}

/// <summary>A lane's four A registers of a 16 × 8 TF32 mma tile: (row quad, k pair), (quad + 8, pair), (quad, pair + 4),
/// (quad + 8, pair + 4).</summary>
internal struct Fragment
{
    public uint R0, R1, R2, R3;
}

/// <summary>A lane's accumulators of one 16 × 8 mma tile: C0, C1 at (row quad; columns 2·pair, 2·pair + 1), C2, C3 at
/// the same columns of row quad + 8.</summary>
internal struct Accumulator
{
    public float C0, C1, C2, C3;
}

/// <summary>A warp's 32 × 32 block: 2 row tiles × 4 column tiles of accumulators, as fields so they stay in registers.</summary>
internal struct WarpTile
{
    public Accumulator T00, T01, T02, T03, T10, T11, T12, T13;

    /// <summary>One k8 step: the two row tiles (A words from <paramref name="a"/>, the lane's (row quad, k pair) of the
    /// weight tile) times the four column tiles (B words from <paramref name="b"/>, its (k pair, column quad) of the input
    /// tile).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Multiply(ArrayView<uint> wTile, int a, ArrayView<uint> xTile, int b)
    {
        const int rows8 = 8 * TensorCoreConvolutionKernel.WeightStride, k4 = 4 * TensorCoreConvolutionKernel.InputStride;
        var top = new Fragment { R0 = wTile[a], R1 = wTile[a + rows8], R2 = wTile[a + 4], R3 = wTile[a + rows8 + 4] };
        int bottomAt = a + 16 * TensorCoreConvolutionKernel.WeightStride;
        var bottom = new Fragment { R0 = wTile[bottomAt], R1 = wTile[bottomAt + rows8], R2 = wTile[bottomAt + 4], R3 = wTile[bottomAt + rows8 + 4] };
        // Written out per column (no loop, no refs) so the accumulators stay in registers.
        (T00, T10) = Column(T00, T10, top, bottom, xTile[b], xTile[b + k4]);
        (T01, T11) = Column(T01, T11, top, bottom, xTile[b + 8], xTile[b + k4 + 8]);
        (T02, T12) = Column(T02, T12, top, bottom, xTile[b + 16], xTile[b + k4 + 16]);
        (T03, T13) = Column(T03, T13, top, bottom, xTile[b + 24], xTile[b + k4 + 24]);
    }

    private static (Accumulator Top, Accumulator Bottom) Column(Accumulator upper, Accumulator lower, Fragment top, Fragment bottom, uint b0, uint b1) =>
        (TensorCoreConvolutionKernel.Mma(upper, top, b0, b1), TensorCoreConvolutionKernel.Mma(lower, bottom, b0, b1));

    /// <summary>Bias, activation and store; (row, column) is the lane's first output of the warp's block.</summary>
    public readonly void Store(PointwiseOutput output, int row, int column)
    {
        Store(output, row, column, T00); Store(output, row, column + 8, T01);
        Store(output, row, column + 16, T02); Store(output, row, column + 24, T03);
        Store(output, row + 16, column, T10); Store(output, row + 16, column + 8, T11);
        Store(output, row + 16, column + 16, T12); Store(output, row + 16, column + 24, T13);
    }

    private static void Store(PointwiseOutput output, int row, int column, Accumulator a)
    {
        output.Store(row, column, a.C0);
        output.Store(row, column + 1, a.C1);
        output.Store(row + 8, column, a.C2);
        output.Store(row + 8, column + 1, a.C3);
    }
}
