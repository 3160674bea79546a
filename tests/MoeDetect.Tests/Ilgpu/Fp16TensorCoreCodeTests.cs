using System.Text.RegularExpressions;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The FP16-operand tensor-core GEMM as ILGPU compiles it for sm_90 and the engine loads it (no GPU needed: the
/// CPU accelerator runs no PTX, and the GPU check, <see cref="TensorCoreCheck"/>, runs where a plan is built): a k-step
/// is the instructions the kernel was designed as, and nothing of it stays in local memory.</summary>
public sealed partial class Fp16TensorCoreCodeTests
{
    private static readonly Lazy<(string Square, string Wide)> Ptx = new(() =>
    {
        using var compiler = new SmPtxCompiler();
        Action<long, long, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, PointwiseGeometry, Activation>
            square = Fp16TensorCoreConvolutionKernel.Run<SquareTensorCoreTile, SiluFunction>,
            wide = Fp16TensorCoreConvolutionKernel.Run<WideTensorCoreTile, SiluFunction>;
        return (KernelLoader.PromotedTensorCorePtx(compiler.ExplicitlyGrouped(square.Method)),
            KernelLoader.PromotedTensorCorePtx(compiler.ExplicitlyGrouped(wide.Method)));
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_k_step_is_sixteen_fp16_mma_on_fragments_loaded_by_ldmatrix(bool square)
    {
        string ptx = square ? Ptx.Value.Square : Ptx.Value.Wide;
        // Two k16 steps of 2 row tiles × 4 column tiles; the loop is not unrolled, so the kernel has one k-step's code.
        Assert.Equal(16, HalfMma().Matches(ptx).Count);
        Assert.Equal(16, AnyMma().Matches(ptx).Count);
        // Per k16: the A fragments of both row tiles, the B fragments of two column tiles per transposing load.
        Assert.Equal(4, PlainLoad().Matches(ptx).Count);
        Assert.Equal(4, TransposedLoad().Matches(ptx).Count);
    }

    [Fact]
    public void Its_operands_stay_in_registers_and_its_shared_memory_in_one_block()
    {
        var (square, wide) = Ptx.Value;
        Assert.Empty(LocalMemory().Matches(square));
        Assert.Empty(LocalMemory().Matches(wide));
        // 48 KB is the most a kernel may declare statically.
        foreach (var ptx in new[] { square, wide })
            Assert.InRange(int.Parse(SharedBytes().Match(ptx).Groups["bytes"].Value), 1, 48 * 1024);
    }
}
