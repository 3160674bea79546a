using System.Text.RegularExpressions;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The FP16-operand tensor-core GEMM as ILGPU compiles it for sm_90 and the engine loads it (no GPU needed; what
/// they compute is checked emulated, TensorCoreEmulationTests, and on the GPU by <see cref="TensorCoreCheck"/>): a k-step
/// is the instructions the kernel was designed as, and nothing of it stays in local memory.</summary>
public sealed partial class Fp16TensorCoreCodeTests
{
    private delegate void Gemm(long x, long w, ILGPU.ArrayView<float> bias, ILGPU.ArrayView<float> residual, ILGPU.ArrayView<float> y,
        PointwiseGeometry g, Activation activation);

    /// <summary>The kernels by name: inputs rounded in shared memory, both tiles; inputs through registers (1 × 1 GEMMs).</summary>
    private static readonly Lazy<Dictionary<string, string>> Ptx = new(() =>
    {
        using var compiler = new SmPtxCompiler();
        var kernels = new Dictionary<string, Gemm>
        {
            ["square"] = Fp16TensorCoreConvolutionKernel.Run<SquareTensorCoreTile, SiluFunction, PtxIsa>,
            ["wide"] = Fp16TensorCoreConvolutionKernel.Run<WideTensorCoreTile, SiluFunction, PtxIsa>,
            ["square, chunked inputs"] = Fp16TensorCoreConvolutionKernel.RunChunkedInputs<SquareTensorCoreTile, SiluFunction, PtxIsa>,
            ["wide, chunked inputs"] = Fp16TensorCoreConvolutionKernel.RunChunkedInputs<WideTensorCoreTile, SiluFunction, PtxIsa>,
            ["square, row segments"] = RowSegmentConvolutionKernel.Run<SquareTensorCoreTile, SiluFunction, PtxIsa, UnitStride>,
            ["wide, row segments"] = RowSegmentConvolutionKernel.Run<WideTensorCoreTile, SiluFunction, PtxIsa, UnitStride>,
            ["square, row segments of stride 2"] = RowSegmentConvolutionKernel.Run<SquareTensorCoreTile, SiluFunction, PtxIsa, DoubleStride>,
        };
        return kernels.ToDictionary(k => k.Key, k => KernelLoader.PromotedTensorCorePtx(compiler.ExplicitlyGrouped(k.Value.Method)));
    });

    [GeneratedRegex(@"^\s+mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.f16\.f16\.f32 ", RegexOptions.Multiline)]
    private static partial Regex HalfMma();

    [GeneratedRegex(@"^\s+mma\.sync", RegexOptions.Multiline)]
    private static partial Regex AnyMma();

    [GeneratedRegex(@"^\s+ldmatrix\.sync\.aligned\.m8n8\.x4\.trans\.shared\.b16 ", RegexOptions.Multiline)]
    private static partial Regex TransposedLoad();

    [GeneratedRegex(@"^\s+ldmatrix\.sync\.aligned\.m8n8\.x4\.shared\.b16 ", RegexOptions.Multiline)]
    private static partial Regex PlainLoad();

    [GeneratedRegex(@"\.local\b|\bst\.local|\bld\.local")]
    private static partial Regex LocalMemory();

    [GeneratedRegex(@"__shared_alloca0\[(?<bytes>\d+)\]")]
    private static partial Regex SharedBytes();

    [GeneratedRegex(@"cp\.async\.cg\.shared\.global \[[^\]]+\], \[g\], 16,")]
    private static partial Regex ChunkCopy();

    [GeneratedRegex(@"cvt\.rn\.f16x2\.f32 ")]
    private static partial Regex Rounding();

    public static TheoryData<string> Kernels => ["square", "wide", "square, chunked inputs", "wide, chunked inputs"];

    public static TheoryData<string> RowSegmentKernels => ["square, row segments", "wide, row segments", "square, row segments of stride 2"];

    [Theory]
    [MemberData(nameof(RowSegmentKernels))]
    public void A_row_segment_k_step_is_three_k16_steps_on_operands_copied_sixteen_bytes_at_a_time(string kernel)
    {
        string ptx = Ptx.Value[kernel];
        Assert.Equal(24, HalfMma().Matches(ptx).Count);
        Assert.Equal(24, AnyMma().Matches(ptx).Count);
        Assert.Equal(6, PlainLoad().Matches(ptx).Count);
        Assert.Equal(6, TransposedLoad().Matches(ptx).Count);
        // 16-byte copies: the weights' and the aligned inputs' (once in the prologue, once in the loop). Rounding: the
        // three kernel columns' two words, one of which they share.
        Assert.Equal(4, ChunkCopy().Matches(ptx).Count);
        Assert.InRange(Rounding().Matches(ptx).Count, 5, 6);
        Assert.Empty(LocalMemory().Matches(ptx));
        Assert.InRange(int.Parse(SharedBytes().Match(ptx).Groups["bytes"].Value), 1, 48 * 1024);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void A_k_step_is_sixteen_fp16_mma_on_fragments_loaded_by_ldmatrix(string kernel)
    {
        string ptx = Ptx.Value[kernel];
        // Two k16 steps of 2 row tiles × 4 column tiles; the loop is not unrolled, so the kernel has one k-step's code.
        Assert.Equal(16, HalfMma().Matches(ptx).Count);
        Assert.Equal(16, AnyMma().Matches(ptx).Count);
        // Per k16: the A fragments of both row tiles, the B fragments of two column tiles per transposing load.
        Assert.Equal(4, PlainLoad().Matches(ptx).Count);
        Assert.Equal(4, TransposedLoad().Matches(ptx).Count);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Its_operands_stay_in_registers_and_its_shared_memory_in_one_block(string kernel)
    {
        string ptx = Ptx.Value[kernel];
        Assert.Empty(LocalMemory().Matches(ptx));
        // 48 KB is the most a kernel may declare statically.
        Assert.InRange(int.Parse(SharedBytes().Match(ptx).Groups["bytes"].Value), 1, 48 * 1024);
    }

    [Fact]
    public void Inputs_through_registers_need_two_fifths_less_shared_memory()
    {
        int Bytes(string kernel) => int.Parse(SharedBytes().Match(Ptx.Value[kernel]).Groups["bytes"].Value);
        // No FP32 input stages: 19 KB instead of 33 for 64 × 64 tiles.
        Assert.True(Bytes("square, chunked inputs") * 5 < Bytes("square") * 3, $"{Bytes("square, chunked inputs")} against {Bytes("square")}");
    }
}
