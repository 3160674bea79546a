using ILGPU;
using ILGPU.Runtime.Cuda;

namespace MoeDetect.Kernels.Tensors;

/// <summary>The pointwise-convolution GEMM of <see cref="PointwiseConvolutionKernel"/> on tensor cores: inline PTX
/// <c>mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32</c> (sm_80 and later). Tiles are converted to FP16 as they
/// are loaded into shared memory; accumulation, bias, activation and the stored output stay FP32.
/// Grid (pixel tiles of 64, out-channel tiles of 64, batch), groups of 128 threads: 2 × 2 warps, each warp a 32 × 32
/// block of 2 × 4 mma tiles (16 × 8). CUDA only: launch it where <see cref="CudaAsm.IsSupported"/> holds (the CPU
/// accelerator uses the SIMT kernel, which computes the same result in FP32).</summary>
public static class TensorCoreConvolutionKernel
{
    public const int GroupSize = 128, Tile = 64;
    private const int KStep = 32, Pairs = KStep / 2;
    // Row stride of the packed half2 tiles in 32-bit words: 16 pairs + 4 of padding, so the 8 rows a warp reads
    // at once fall on different banks.
    private const int Stride = Pairs + 4;

    public static void Run(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y,
        PointwiseGeometry g, Activation activation)
    {
        // w tile: [out channel][k pair]; x tile: [pixel][k pair]; each word two FP16 values, the lower k in the low half.
        var wTile = SharedMemory.Allocate<uint>(Tile * Stride);
        var xTile = SharedMemory.Allocate<uint>(Tile * Stride);
        int t = Group.IdxX, lane = t % 32, warp = t / 32;
        int m0 = Grid.IdxY * Tile, p0 = Grid.IdxX * Tile, n = Grid.IdxZ;
        long xImage = (long)n * g.Channels * g.Pixels;
        int rowBase = warp / 2 * 32, colBase = warp % 2 * 32;
        int quad = lane / 4, pair = lane % 4;
        WarpTile acc = default;
        for (int k0 = 0; k0 < g.Channels; k0 += KStep)
        {
            for (int i = t; i < Tile * Pairs; i += GroupSize)
            {
                int m = i / Pairs, k = k0 + 2 * (i % Pairs);
                bool row = m0 + m < g.OutChannels;
                int at = (m0 + m) * g.Channels + k;
                float lo = row && k < g.Channels ? w[at] : 0f, hi = row && k + 1 < g.Channels ? w[at + 1] : 0f;
                wTile[m * Stride + i % Pairs] = PackHalves(lo, hi);
            }
            for (int i = t; i < Tile * Pairs; i += GroupSize)
            {
                int p = i % Tile, kp = i / Tile, k = k0 + 2 * kp;
                bool column = p0 + p < g.Pixels;
                long at = xImage + (long)k * g.Pixels + p0 + p;
                float lo = column && k < g.Channels ? x[at] : 0f, hi = column && k + 1 < g.Channels ? x[at + g.Pixels] : 0f;
                xTile[p * Stride + kp] = PackHalves(lo, hi);
            }
            Group.Barrier();
            for (int half = 0; half < Pairs; half += 8)
            {
                var top = FragmentA(wTile, (rowBase + quad) * Stride + half + pair);
                var bottom = FragmentA(wTile, (rowBase + 16 + quad) * Stride + half + pair);
                acc.Multiply(top, bottom, xTile, (colBase + quad) * Stride + half + pair, 8 * Stride);
            }
            Group.Barrier();
        }
        var output = new PointwiseOutput(y, bias, residual, g, n, activation, partial: false);
        int r = m0 + rowBase + quad, c = p0 + colBase + 2 * pair;
        acc.Store(output, r, c);
    }

    /// <summary>A lane's four A registers of a 16 × 16 tile from packed shared memory, <paramref name="at"/> being its
    /// (row quad, pair) word: rows quad and quad + 8, k pairs pair and pair + 4.</summary>
    private static Fragment FragmentA(ArrayView<uint> tile, int at) => new()
    {
        R0 = tile[at], R1 = tile[at + 8 * Stride], R2 = tile[at + 4], R3 = tile[at + 8 * Stride + 4],
    };

    /// <summary>Two floats rounded to FP16 and packed low | high &lt;&lt; 16 (cvt puts its first source in the high half).
    /// The by-value <c>Emit</c> form binds registers directly (<c>EmitRef</c> goes through local memory).</summary>
    private static uint PackHalves(float lo, float hi)
    {
        CudaAsm.Emit("cvt.rn.f16x2.f32 %0, %1, %2;", out uint packed, hi, lo);
        return packed;
    }

    // One mma.sync per block; the accumulators travel as two 64-bit registers of float pairs because the by-value
    // Emit has a single output, so each block runs the same mma and keeps one half of D (tensor cores are idle
    // enough here that the duplicate costs less than local memory).
    private const string MmaPrologue =
        "{ .reg .f32 c<4>, d<4>; .reg .b32 w<4>; mov.b64 {w0, w1}, %1; mov.b64 {w2, w3}, %2; " +
        "mov.b32 c0, w0; mov.b32 c1, w1; mov.b32 c2, w2; mov.b32 c3, w3; " +
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {d0, d1, d2, d3}, {%3, %4, %5, %6}, {%7, %8}, {c0, c1, c2, c3}; ";
    private const string KeepLow = MmaPrologue + "mov.b32 w0, d0; mov.b32 w1, d1; mov.b64 %0, {w0, w1}; }";
    private const string KeepHigh = MmaPrologue + "mov.b32 w2, d2; mov.b32 w3, d3; mov.b64 %0, {w2, w3}; }";

    /// <summary>D = A·B + D for one 16 × 8 tile (A 16 × 16 row-major, B 16 × 8 column-major, FP16 in, FP32 accumulators).</summary>
    internal static Accumulator Mma(Accumulator d, Fragment a, uint b0, uint b1)
    {
        CudaAsm.Emit(KeepLow, out ulong low, d.Low, d.High, a.R0, a.R1, a.R2, a.R3, b0, b1);
        CudaAsm.Emit(KeepHigh, out ulong high, d.Low, d.High, a.R0, a.R1, a.R2, a.R3, b0, b1);
        return new Accumulator { Low = low, High = high };
    }
}

/// <summary>A lane's four A registers of a 16 × 16 mma tile (two FP16 each).</summary>
internal struct Fragment
{
    public uint R0, R1, R2, R3;
}

/// <summary>A lane's accumulators of one 16 × 8 mma tile as float pairs in 64-bit words (first float in the low half):
/// Low = (row quad; cols 2·pair, 2·pair + 1), High = the same columns of row quad + 8.</summary>
internal struct Accumulator
{
    public ulong Low, High;
}

/// <summary>A warp's 32 × 32 block: 2 row tiles × 4 column tiles of accumulators, as fields so they stay in registers.</summary>
internal struct WarpTile
{
    public Accumulator T00, T01, T02, T03, T10, T11, T12, T13;

    /// <summary>One k16 step: the two row tiles times the four column tiles of B, whose (column quad, pair) words start
    /// at <paramref name="b"/> and lie <paramref name="columnTile"/> words apart.</summary>
    public void Multiply(Fragment top, Fragment bottom, ArrayView<uint> xTile, int b, int columnTile)
    {
        // Written out per column (no loop, no refs) so the accumulators stay in registers.
        (T00, T10) = Column(T00, T10, top, bottom, xTile, b);
        (T01, T11) = Column(T01, T11, top, bottom, xTile, b + columnTile);
        (T02, T12) = Column(T02, T12, top, bottom, xTile, b + 2 * columnTile);
        (T03, T13) = Column(T03, T13, top, bottom, xTile, b + 3 * columnTile);
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
        output.Store(row, column, Interop.IntAsFloat((uint)a.Low));
        output.Store(row, column + 1, Interop.IntAsFloat((uint)(a.Low >> 32)));
        output.Store(row + 8, column, Interop.IntAsFloat((uint)a.High));
        output.Store(row + 8, column + 1, Interop.IntAsFloat((uint)(a.High >> 32)));
    }
}
