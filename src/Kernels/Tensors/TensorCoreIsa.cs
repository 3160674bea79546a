using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace MoeDetect.Kernels.Tensors;

/// <summary>The instructions the tensor-core kernels are written in, chosen by a type parameter so that each backend's
/// kernel holds only its own: inline PTX on CUDA (<see cref="PtxIsa"/>), plain code on ILGPU's CPU accelerator
/// (<see cref="EmulatedIsa"/>, for the tests). Shared addresses are byte addresses in the kernel's one shared allocation
/// (<see cref="SharedBase"/> on), passed with the allocation itself, which only the emulation reads.</summary>
public interface ITensorCoreIsa
{
    /// <summary>The shared byte address of the kernel's shared memory. ILGPU names a kernel's shared allocations
    /// <c>__shared_alloca0</c>, 1, … in the order they are made, and cannot hand out a view's address inside a kernel,
    /// so a kernel using this makes exactly one allocation (a misnamed symbol fails when the PTX is loaded, not later).</summary>
    uint SharedBase();

    /// <summary>Copies the 4 bytes at <paramref name="source"/> (a global address) to shared byte address
    /// <paramref name="target"/>, asynchronously (<c>cp.async</c>); zeros where <paramref name="valid"/> is false (the
    /// source is then not read).</summary>
    void Copy(ArrayView<uint> shared, uint target, long source, bool valid);

    /// <summary>As <see cref="Copy"/>, 16 bytes, both addresses 16-byte aligned, through L2 only (the operand tiles are
    /// read once a group).</summary>
    void Copy16(ArrayView<uint> shared, uint target, long source, bool valid);

    /// <summary>Closes the group of copies issued since the last.</summary>
    void Commit();

    /// <summary>Waits for every committed group but the newest.</summary>
    void WaitAllButNewest();

    /// <summary>Waits for every committed group.</summary>
    void WaitAll();

    /// <summary><c>ldmatrix .x4</c>: four 8 × 8 matrices of 16-bit values read by the whole warp, lanes 8j … 8j + 7 giving
    /// matrix j's rows' shared byte addresses (16-byte aligned); each lane gets word (lane % 4) of row (lane / 4) of each,
    /// the layout of an mma's A registers (as TF32: 8 rows × 4 words).</summary>
    Fragment LoadMatrices(ArrayView<uint> shared, uint address);

    /// <summary><c>ldmatrix .x4 .trans</c>: lane (quad, pair) gets rows 2·pair and 2·pair + 1 of column quad of each
    /// matrix, the layout of an m16n8k16 mma's B registers where the rows are k.</summary>
    Fragment LoadMatricesTransposed(ArrayView<uint> shared, uint address);

    /// <summary>D = A·B + D for one 16 × 8 tile over 8 k (A 16 × 8 row-major, B 8 × 8 column-major, TF32 in: each
    /// operand's upper 19 bits; FP32 accumulators).</summary>
    Accumulator MmaTf32(Accumulator d, Fragment a, uint b0, uint b1);

    /// <summary>D = A·B + D for one 16 × 8 tile over 16 k (FP16 in, FP32 accumulators); the accumulators lie as
    /// <see cref="MmaTf32"/>'s.</summary>
    Accumulator MmaHalves(Accumulator d, Fragment a, uint b0, uint b1);

    /// <summary>Two values rounded to nearest FP16 in one word, <paramref name="low"/> in the low half (the lower address).</summary>
    uint Halves(float low, float high);

    /// <summary>The 16 bytes at a shared byte address (16-byte aligned).</summary>
    Quad SharedQuad(ArrayView<uint> shared, uint address);

    /// <summary>The 16 bytes at a global address (16-byte aligned), through the read-only cache (weights are read by every
    /// pixel tile).</summary>
    Quad GlobalQuad(long address);
}

/// <summary>The tensor-core instructions as inline PTX (sm_80 and later). <c>EmitRef</c> where an instruction has several
/// outputs (the by-value <c>Emit</c> takes one); ILGPU passes each operand through a local-memory slot, which the engine's
/// PTX rewrite makes registers (<c>PtxScalarLocals</c>).</summary>
public readonly struct PtxIsa : ITensorCoreIsa
{
    public uint SharedBase()
    {
        CudaAsm.Emit("mov.u32 %0, __shared_alloca0;", out uint address);
        return address;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Copy(ArrayView<uint> shared, uint target, long source, bool valid) =>
        CudaAsm.Emit("{ .reg .u64 g; cvta.to.global.u64 g, %1; cp.async.ca.shared.global [%0], [g], 4, %2; }", target, source, valid ? 4u : 0u);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Copy16(ArrayView<uint> shared, uint target, long source, bool valid) =>
        CudaAsm.Emit("{ .reg .u64 g; cvta.to.global.u64 g, %1; cp.async.cg.shared.global [%0], [g], 16, %2; }", target, source, valid ? 16u : 0u);

    public void Commit() => CudaAsm.Emit("cp.async.commit_group;");

    public void WaitAllButNewest() => CudaAsm.Emit("cp.async.wait_group 1;");

    public void WaitAll() => CudaAsm.Emit("cp.async.wait_group 0;");

    public Fragment LoadMatrices(ArrayView<uint> shared, uint address)
    {
        Ref<uint> r0 = 0u, r1 = 0u, r2 = 0u, r3 = 0u;
        Input<uint> at = address;
        CudaAsm.EmitRef("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];", ref r0, ref r1, ref r2, ref r3, ref at);
        return new Fragment { R0 = r0.Value, R1 = r1.Value, R2 = r2.Value, R3 = r3.Value };
    }

    public Fragment LoadMatricesTransposed(ArrayView<uint> shared, uint address)
    {
        Ref<uint> r0 = 0u, r1 = 0u, r2 = 0u, r3 = 0u;
        Input<uint> at = address;
        CudaAsm.EmitRef("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];", ref r0, ref r1, ref r2, ref r3, ref at);
        return new Fragment { R0 = r0.Value, R1 = r1.Value, R2 = r2.Value, R3 = r3.Value };
    }

    public Accumulator MmaTf32(Accumulator d, Fragment a, uint b0, uint b1)
    {
        Ref<float> d0 = d.C0, d1 = d.C1, d2 = d.C2, d3 = d.C3;
        Input<uint> a0 = a.R0, a1 = a.R1, a2 = a.R2, a3 = a.R3, bLow = b0, bHigh = b1;
        CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
            ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref bLow, ref bHigh);
        return new Accumulator { C0 = d0.Value, C1 = d1.Value, C2 = d2.Value, C3 = d3.Value };
    }

    public Accumulator MmaHalves(Accumulator d, Fragment a, uint b0, uint b1)
    {
        Ref<float> d0 = d.C0, d1 = d.C1, d2 = d.C2, d3 = d.C3;
        Input<uint> a0 = a.R0, a1 = a.R1, a2 = a.R2, a3 = a.R3, bLow = b0, bHigh = b1;
        CudaAsm.EmitRef("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
            ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref bLow, ref bHigh);
        return new Accumulator { C0 = d0.Value, C1 = d1.Value, C2 = d2.Value, C3 = d3.Value };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Halves(float low, float high)
    {
        CudaAsm.Emit("cvt.rn.f16x2.f32 %0, %1, %2;", out uint packed, high, low);
        return packed;
    }

    public Quad SharedQuad(ArrayView<uint> shared, uint address)
    {
        Ref<float> v0 = 0f, v1 = 0f, v2 = 0f, v3 = 0f;
        Input<uint> at = address;
        CudaAsm.EmitRef("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];", ref v0, ref v1, ref v2, ref v3, ref at);
        return new Quad(v0.Value, v1.Value, v2.Value, v3.Value);
    }

    /// <remarks>The address goes in as two words, which <c>PtxScalarLocals</c> keeps in registers.</remarks>
    public Quad GlobalQuad(long address)
    {
        Ref<float> v0 = 0f, v1 = 0f, v2 = 0f, v3 = 0f;
        Input<uint> low = (uint)address, high = (uint)(address >> 32);
        CudaAsm.EmitRef("{ .reg .u64 a; mov.b64 a, {%4, %5}; cvta.to.global.u64 a, a; ld.global.nc.v4.f32 {%0, %1, %2, %3}, [a]; }",
            ref v0, ref v1, ref v2, ref v3, ref low, ref high);
        return new Quad(v0.Value, v1.Value, v2.Value, v3.Value);
    }
}
