using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace MoeDetect.Kernels.Tensors;

/// <summary>The tiled GEMM of <see cref="PointwiseConvolutionKernel"/> on tensor cores, for geometries planned with
/// <see cref="PointwiseGeometry.TensorCores"/> = 1: inline PTX <c>mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32</c>
/// (sm_80 and later). Operands are rounded to FP16 as they enter shared memory; accumulation, bias, activation and the
/// stored output stay FP32. It takes everything the SIMT GEMM takes: input scale, implicit-GEMM windows, residual,
/// split-K slices (raw partials, summed by <see cref="PointwiseConvolutionKernel.SumSlices"/>).
/// Grid (pixel tiles of 64, out-channel tiles of 64, batch × slices), groups of 128 threads: 2 × 2 warps, each warp a
/// 32 × 32 block of 2 × 4 mma tiles (16 × 8). Each thread loads the next k-step's 16 weights and 16 inputs into
/// registers while the group multiplies the current one. On the H100 it is still bound by those loads (without them
/// it ran 6× faster) and slower than the SIMT GEMM (docs/results/2026-12-05-h100-tensor-cores), so plans use it only
/// where asked to. CUDA only: the CPU accelerator cannot run PTX (the SIMT kernel computes the same in FP32; <c>ilgpu-bench kernels</c>
/// checks the two against each other on the GPU).</summary>
public static class TensorCoreConvolutionKernel
{
    public const int GroupSize = 128, Tile = 64;
    private const int KStep = 32, Pairs = KStep / 2;
    // Row stride of the packed half2 tiles in 32-bit words: 16 pairs + 4 of padding, so that both the stores (8 rows ×
    // 4 pairs a warp) and the fragment reads (8 rows × 4 pairs) fall on 32 different banks.
    internal const int Stride = Pairs + 4;

    public static void Run(ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual,
        ArrayView<float> y, PointwiseGeometry g, Activation activation)
    {
        // w tile: [out channel][k pair]; x tile: [pixel][k pair]; each word two FP16 values, the lower k in the low half.
        var wTile = SharedMemory.Allocate<uint>(Tile * Stride);
        var xTile = SharedMemory.Allocate<uint>(Tile * Stride);
        int t = Group.IdxX, lane = t % 32, warp = t / 32;
        int m0 = Grid.IdxY * Tile, p0 = Grid.IdxX * Tile, n = Grid.IdxZ / g.Slices, slice = Grid.IdxZ % g.Slices;
        int kBegin = slice * g.SliceChannels, kEnd = Math.Min(g.Channels, kBegin + g.SliceChannels);
        var input = new PointwiseInput(x, scale, g, n);
        // This thread's loads: weight rows lane / 4 + 8 i at k pair 4 warp + lane % 4, inputs at pixels lane % 8 + 8 i
        // and k pair 4 warp + lane / 8 (i = 0 … 7). A warp reads 32-byte runs of 8 rows or 4 k rows at a time.
        int wRow = lane / 4, wPair = 4 * warp + lane % 4, xPixel = lane % 8, xPair = 4 * warp + lane / 8;
        int wAt = wRow * Stride + wPair, xAt = xPixel * Stride + xPair;
        var weights = PairLoads.Weights(w, g, m0 + wRow, kBegin + 2 * wPair, kEnd);
        var inputs = PairLoads.Inputs(input, g, kBegin + 2 * xPair, p0 + xPixel, kEnd);
        int rowBase = warp / 2 * 32, colBase = warp % 2 * 32;
        int quad = lane / 4, pair = lane % 4;
        int aAt = (rowBase + quad) * Stride + pair, bAt = (colBase + quad) * Stride + pair;
        WarpTile acc = default;
        for (int k0 = kBegin; k0 < kEnd; k0 += KStep)
        {
            weights.Store(wTile, wAt);
            inputs.Store(xTile, xAt);
            Group.Barrier();
            int next = k0 + KStep;
            if (next < kEnd)
            {
                weights = PairLoads.Weights(w, g, m0 + wRow, next + 2 * wPair, kEnd);
                inputs = PairLoads.Inputs(input, g, next + 2 * xPair, p0 + xPixel, kEnd);
            }
            acc.Multiply(FragmentA(wTile, aAt), FragmentA(wTile, aAt + 16 * Stride), xTile, bAt);
            acc.Multiply(FragmentA(wTile, aAt + 8), FragmentA(wTile, aAt + 16 * Stride + 8), xTile, bAt + 8);
            Group.Barrier();
        }
        bool partial = g.Slices > 1;
        var output = new PointwiseOutput(y, bias, residual, g, partial ? slice * g.Batch + n : n, activation, partial);
        acc.Store(output, m0 + rowBase + quad, p0 + colBase + 2 * pair);
    }

    /// <summary>A lane's four A registers of a 16 × 16 tile from packed shared memory, <paramref name="at"/> being its
    /// (row quad, pair) word: rows quad and quad + 8, k pairs pair and pair + 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Fragment FragmentA(ArrayView<uint> tile, int at) => new()
    {
        R0 = tile[at], R1 = tile[at + 8 * Stride], R2 = tile[at + 4], R3 = tile[at + 8 * Stride + 4],
    };

    /// <summary>Two floats rounded to FP16 and packed low | high &lt;&lt; 16 (cvt puts its first source in the high half).</summary>
    internal static uint PackHalves(float lo, float hi)
    {
        CudaAsm.Emit("cvt.rn.f16x2.f32 %0, %1, %2;", out uint packed, hi, lo);
        return packed;
    }

    /// <summary>D = A·B + D for one 16 × 8 tile (A 16 × 16 row-major, B 16 × 8 column-major, FP16 in, FP32 accumulators).
    /// <c>EmitRef</c>, because mma has four outputs and the by-value <c>Emit</c> takes one. ILGPU passes each operand
    /// through a local-memory slot; the engine loads this kernel through its PTX rewrite that makes those registers.</summary>
    internal static Accumulator Mma(Accumulator d, Fragment a, uint b0, uint b1)
    {
        Ref<float> d0 = d.C0, d1 = d.C1, d2 = d.C2, d3 = d.C3;
        Input<uint> a0 = a.R0, a1 = a.R1, a2 = a.R2, a3 = a.R3, bLow = b0, bHigh = b1;
        CudaAsm.EmitRef("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
            ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref bLow, ref bHigh);
        return new Accumulator { C0 = d0.Value, C1 = d1.Value, C2 = d2.Value, C3 = d3.Value };
    }
}

/// <summary>The 8 pairs of consecutive-k FP32 values one thread carries from global memory into a k-step's packed tile:
/// rows (weights) or pixels (inputs) 8 apart, as fields so that they stay in registers.</summary>
internal struct PairLoads
{
    public float L0, H0, L1, H1, L2, H2, L3, H3, L4, H4, L5, H5, L6, H6, L7, H7;

    /// <summary>w[m + 8 i, k] and w[m + 8 i, k + 1], i = 0 … 7 (0 outside).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PairLoads Weights(ArrayView<float> w, PointwiseGeometry g, int m, int k, int kEnd)
    {
        PairLoads r;
        r.L0 = PointwiseConvolutionKernel.Weight(w, g, m, k, kEnd); r.H0 = PointwiseConvolutionKernel.Weight(w, g, m, k + 1, kEnd);
        r.L1 = PointwiseConvolutionKernel.Weight(w, g, m + 8, k, kEnd); r.H1 = PointwiseConvolutionKernel.Weight(w, g, m + 8, k + 1, kEnd);
        r.L2 = PointwiseConvolutionKernel.Weight(w, g, m + 16, k, kEnd); r.H2 = PointwiseConvolutionKernel.Weight(w, g, m + 16, k + 1, kEnd);
        r.L3 = PointwiseConvolutionKernel.Weight(w, g, m + 24, k, kEnd); r.H3 = PointwiseConvolutionKernel.Weight(w, g, m + 24, k + 1, kEnd);
        r.L4 = PointwiseConvolutionKernel.Weight(w, g, m + 32, k, kEnd); r.H4 = PointwiseConvolutionKernel.Weight(w, g, m + 32, k + 1, kEnd);
        r.L5 = PointwiseConvolutionKernel.Weight(w, g, m + 40, k, kEnd); r.H5 = PointwiseConvolutionKernel.Weight(w, g, m + 40, k + 1, kEnd);
        r.L6 = PointwiseConvolutionKernel.Weight(w, g, m + 48, k, kEnd); r.H6 = PointwiseConvolutionKernel.Weight(w, g, m + 48, k + 1, kEnd);
        r.L7 = PointwiseConvolutionKernel.Weight(w, g, m + 56, k, kEnd); r.H7 = PointwiseConvolutionKernel.Weight(w, g, m + 56, k + 1, kEnd);
        return r;
    }

    /// <summary>x[k, pixel + 8 i] and x[k + 1, pixel + 8 i] as loaded (<see cref="PointwiseInput"/>), i = 0 … 7 (0 outside).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PairLoads Inputs(PointwiseInput input, PointwiseGeometry g, int k, int pixel, int kEnd)
    {
        PairLoads r;
        r.L0 = PointwiseConvolutionKernel.Input(input, g, k, pixel, kEnd); r.H0 = PointwiseConvolutionKernel.Input(input, g, k + 1, pixel, kEnd);
        r.L1 = PointwiseConvolutionKernel.Input(input, g, k, pixel + 8, kEnd); r.H1 = PointwiseConvolutionKernel.Input(input, g, k + 1, pixel + 8, kEnd);
        r.L2 = PointwiseConvolutionKernel.Input(input, g, k, pixel + 16, kEnd); r.H2 = PointwiseConvolutionKernel.Input(input, g, k + 1, pixel + 16, kEnd);
        r.L3 = PointwiseConvolutionKernel.Input(input, g, k, pixel + 24, kEnd); r.H3 = PointwiseConvolutionKernel.Input(input, g, k + 1, pixel + 24, kEnd);
        r.L4 = PointwiseConvolutionKernel.Input(input, g, k, pixel + 32, kEnd); r.H4 = PointwiseConvolutionKernel.Input(input, g, k + 1, pixel + 32, kEnd);
        r.L5 = PointwiseConvolutionKernel.Input(input, g, k, pixel + 40, kEnd); r.H5 = PointwiseConvolutionKernel.Input(input, g, k + 1, pixel + 40, kEnd);
        r.L6 = PointwiseConvolutionKernel.Input(input, g, k, pixel + 48, kEnd); r.H6 = PointwiseConvolutionKernel.Input(input, g, k + 1, pixel + 48, kEnd);
        r.L7 = PointwiseConvolutionKernel.Input(input, g, k, pixel + 56, kEnd); r.H7 = PointwiseConvolutionKernel.Input(input, g, k + 1, pixel + 56, kEnd);
        return r;
    }

    /// <summary>The 8 pairs as packed FP16 words at <paramref name="at"/> + 8 i rows of the tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store(ArrayView<uint> tile, int at)
    {
        const int step = 8 * TensorCoreConvolutionKernel.Stride;
        tile[at] = TensorCoreConvolutionKernel.PackHalves(L0, H0);
        tile[at + step] = TensorCoreConvolutionKernel.PackHalves(L1, H1);
        tile[at + 2 * step] = TensorCoreConvolutionKernel.PackHalves(L2, H2);
        tile[at + 3 * step] = TensorCoreConvolutionKernel.PackHalves(L3, H3);
        tile[at + 4 * step] = TensorCoreConvolutionKernel.PackHalves(L4, H4);
        tile[at + 5 * step] = TensorCoreConvolutionKernel.PackHalves(L5, H5);
        tile[at + 6 * step] = TensorCoreConvolutionKernel.PackHalves(L6, H6);
        tile[at + 7 * step] = TensorCoreConvolutionKernel.PackHalves(L7, H7);
    }
}

/// <summary>A lane's four A registers of a 16 × 16 mma tile (two FP16 each).</summary>
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

    /// <summary>Words between the column tiles of B (8 pixels of packed rows).</summary>
    private const int ColumnTile = 8 * TensorCoreConvolutionKernel.Stride;

    /// <summary>One k16 step: the two row tiles times the four column tiles of B, whose (column quad, pair) words start
    /// at <paramref name="b"/>.</summary>
    public void Multiply(Fragment top, Fragment bottom, ArrayView<uint> xTile, int b)
    {
        // Written out per column (no loop, no refs) so the accumulators stay in registers.
        (T00, T10) = Column(T00, T10, top, bottom, xTile, b);
        (T01, T11) = Column(T01, T11, top, bottom, xTile, b + ColumnTile);
        (T02, T12) = Column(T02, T12, top, bottom, xTile, b + 2 * ColumnTile);
        (T03, T13) = Column(T03, T13, top, bottom, xTile, b + 3 * ColumnTile);
    }

    private static (Accumulator Top, Accumulator Bottom) Column(Accumulator upper, Accumulator lower, Fragment top, Fragment bottom,
        ArrayView<uint> xTile, int b)
    {
        uint b0 = xTile[b], b1 = xTile[b + 4];
        return (TensorCoreConvolutionKernel.Mma(upper, top, b0, b1), TensorCoreConvolutionKernel.Mma(lower, bottom, b0, b1));
    }

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
