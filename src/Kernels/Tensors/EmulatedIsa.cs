using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>What <see cref="PtxIsa"/>'s instructions do, in plain code for ILGPU's CPU accelerator, so that CI runs the
/// tensor-core kernels whole (against the FP32 GEMM: <c>TensorCoreCheck</c>) where before only their index arithmetic
/// was checked on the host. The CPU accelerator must run warps of 32 threads, 128 a group: the warp-wide instructions
/// (<c>ldmatrix</c>, <c>mma</c>) gather each lane's operands from the others, as the hardware's register layouts say.
/// Shared byte addresses are offsets into the kernel's one shared allocation (<see cref="SharedBase"/> is 0), global
/// ones host pointers. Copies complete as they are issued: a kernel that never reads a stage while its copies
/// are in flight computes the same (one that did would not be caught here).</summary>
public readonly unsafe struct EmulatedIsa : ITensorCoreIsa
{
    public uint SharedBase() => 0;

    public void Copy(ArrayView<uint> shared, uint target, long source, bool valid) => Words(shared, target, source, 1, valid);

    public void Copy16(ArrayView<uint> shared, uint target, long source, bool valid) => Words(shared, target, source, 4, valid);

    public void Commit() { }

    public void WaitAllButNewest() { }

    public void WaitAll() { }

    private static void Words(ArrayView<uint> shared, uint target, long source, int words, bool valid)
    {
        for (int i = 0; i < words; i++) shared[(int)(target / 4) + i] = valid ? ((uint*)source)[i] : 0u;
    }

    public Quad SharedQuad(ArrayView<uint> shared, uint address)
    {
        int at = (int)(address / 4);
        return new Quad(Interop.IntAsFloat(shared[at]), Interop.IntAsFloat(shared[at + 1]), Interop.IntAsFloat(shared[at + 2]), Interop.IntAsFloat(shared[at + 3]));
    }

    public Quad GlobalQuad(long address)
    {
        var values = (float*)address;
        return new Quad(values[0], values[1], values[2], values[3]);
    }

    public uint Halves(float low, float high) => Interop.FloatAsInt((ILGPU.Half)low) | (uint)Interop.FloatAsInt((ILGPU.Half)high) << 16;

    public Fragment LoadMatrices(ArrayView<uint> shared, uint address)
    {
        var rows = WarpRows(address);
        int lane = Warp.LaneIdx, row = lane / 4, word = lane % 4;
        var fragment = new Fragment
        {
            R0 = shared[(int)(rows[row] / 4) + word],
            R1 = shared[(int)(rows[8 + row] / 4) + word],
            R2 = shared[(int)(rows[16 + row] / 4) + word],
            R3 = shared[(int)(rows[24 + row] / 4) + word],
        };
        Warp.Barrier();
        return fragment;
    }

    /// <remarks>The lower row's half in the low half of each register.</remarks>
    public Fragment LoadMatricesTransposed(ArrayView<uint> shared, uint address)
    {
        var rows = WarpRows(address);
        int lane = Warp.LaneIdx;
        var fragment = new Fragment
        {
            R0 = TransposedPair(shared, rows, 0, lane),
            R1 = TransposedPair(shared, rows, 8, lane),
            R2 = TransposedPair(shared, rows, 16, lane),
            R3 = TransposedPair(shared, rows, 24, lane),
        };
        Warp.Barrier();
        return fragment;
    }

    // The CPU accelerator's shuffles and barriers each synchronise OS threads (about 1.5 ms a shuffle, 0.4 ms a warp
    // barrier on 2 cores): the warp-wide instructions exchange their operands through shared memory, two warp barriers
    // each (the second before the next call may overwrite them), not a shuffle per operand.

    /// <summary>The row addresses of the lane's warp, lane i's at i, once every lane has given its own.</summary>
    private static ArrayView<uint> WarpRows(uint address)
    {
        var addresses = SharedMemory.Allocate<uint>(TensorCoreConvolutionKernel.GroupSize);
        addresses[Group.IdxX] = address;
        Warp.Barrier();
        return addresses.SubView(Group.IdxX - Warp.LaneIdx, 32);
    }

    private static uint TransposedPair(ArrayView<uint> shared, ArrayView<uint> rows, int firstLane, int lane)
    {
        uint column = 2u * (uint)(lane / 4);
        int pair = firstLane + 2 * (lane % 4);
        return HalfAt(shared, rows[pair] + column) | HalfAt(shared, rows[pair + 1] + column) << 16;
    }

    private static uint HalfAt(ArrayView<uint> shared, uint address) => shared[(int)(address / 4)] >> (int)(8 * (address % 4)) & 0xFFFF;

    /// <remarks>Lane (group g, thread t) holds A's rows g and g + 8 at k 2t, 2t + 1 (a0, a1) and 2t + 8, 2t + 9 (a2,
    /// a3), B's column g at the same k (b0, b1), and D's rows g and g + 8 at columns 2t, 2t + 1.</remarks>
    public Accumulator MmaHalves(Accumulator d, Fragment a, uint b0, uint b1) => Mma<HalfPairs>(d, a, b0, b1);

    /// <remarks>Lane (g, t) holds A's rows g and g + 8 at k t (a0, a1) and t + 4 (a2, a3), B's column g at k t and
    /// t + 4.</remarks>
    public Accumulator MmaTf32(Accumulator d, Fragment a, uint b0, uint b1) => Mma<Tf32Words>(d, a, b0, b1);

    /// <summary>Both mma shapes: the lane's 4 outputs, each over the 4 lanes of its row group (A words a0 … a3) and of its
    /// column's group (B words b0, b1), a register pair's product being <typeparamref name="TWords"/>'.</summary>
    private static Accumulator Mma<TWords>(Accumulator d, Fragment a, uint b0, uint b1) where TWords : struct, IOperandWords
    {
        var operands = WarpOperands(a, b0, b1);
        int lane = Warp.LaneIdx, g = lane / 4, t = lane % 4;
        float c0 = d.C0, c1 = d.C1, c2 = d.C2, c3 = d.C3;
        for (int k = 0; k < 4; k++)
        {
            int rows = Operands * (4 * g + k), left = Operands * (8 * t + k), right = Operands * (8 * t + 4 + k);
            c0 += Product<TWords>(operands, rows, left);
            c1 += Product<TWords>(operands, rows, right);
            c2 += Product<TWords>(operands, rows + 1, left);
            c3 += Product<TWords>(operands, rows + 1, right);
        }
        Warp.Barrier();
        return new Accumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    /// <summary>A row's (a0 or a1, with a2 or a3 two words on) products with a column's b0 and b1.</summary>
    private static float Product<TWords>(ArrayView<uint> operands, int row, int column) where TWords : struct, IOperandWords =>
        default(TWords).Product(operands[row], operands[column + 4]) + default(TWords).Product(operands[row + 2], operands[column + 5]);

    /// <summary>What a pair of operand registers multiplies to.</summary>
    private interface IOperandWords
    {
        float Product(uint a, uint b);
    }

    /// <summary>Two FP16 values each: their dot product.</summary>
    private readonly struct HalfPairs : IOperandWords
    {
        public float Product(uint a, uint b) => Low(a) * Low(b) + High(a) * High(b);
        private static float Low(uint pair) => Interop.IntAsFloat((ushort)(pair & 0xFFFF));
        private static float High(uint pair) => Interop.IntAsFloat((ushort)(pair >> 16));
    }

    /// <summary>One TF32 value each (an FP32 word's upper 19 bits).</summary>
    private readonly struct Tf32Words : IOperandWords
    {
        public float Product(uint a, uint b) => Tf32(a) * Tf32(b);
        private static float Tf32(uint bits) => Interop.IntAsFloat(bits & 0xFFFFE000u);
    }

    /// <summary>Words an mma operand set takes: a0 … a3, b0, b1.</summary>
    private const int Operands = 6;

    /// <summary>The operands of the lane's warp, lane i's from word 6i, once every lane has given its own.</summary>
    private static ArrayView<uint> WarpOperands(Fragment a, uint b0, uint b1)
    {
        var operands = SharedMemory.Allocate<uint>(Operands * TensorCoreConvolutionKernel.GroupSize);
        int at = Operands * Group.IdxX;
        operands[at] = a.R0;
        operands[at + 1] = a.R1;
        operands[at + 2] = a.R2;
        operands[at + 3] = a.R3;
        operands[at + 4] = b0;
        operands[at + 5] = b1;
        Warp.Barrier();
        return operands.SubView(Operands * (Group.IdxX - Warp.LaneIdx), Operands * 32);
    }
}
