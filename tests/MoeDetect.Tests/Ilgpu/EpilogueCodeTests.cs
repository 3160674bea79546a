using System.Text.RegularExpressions;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The tensor-core GEMM as ILGPU compiles it for sm_90 (no GPU needed) holds its own activation alone: on the
/// H100 the plans ran 0.78–0.91× as long once the epilogue no longer inlined a switch over every unary function for each
/// of its 32 stores (docs/results/2026-12-07-h100-epilogues).</summary>
public sealed partial class EpilogueCodeTests
{
    private static readonly Lazy<(string Silu, string Identity)> Ptx = new(() =>
    {
        using var compiler = new SmPtxCompiler();
        Action<long, long, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, PointwiseGeometry, Activation>
            silu = TensorCoreConvolutionKernel.Run<SquareTensorCoreTile, SiluFunction, PtxIsa>,
            identity = TensorCoreConvolutionKernel.Run<SquareTensorCoreTile, IdentityFunction, PtxIsa>;
        return (compiler.ExplicitlyGrouped(silu.Method), compiler.ExplicitlyGrouped(identity.Method));
    });

    [GeneratedRegex(@"^\s+ex2\.", RegexOptions.Multiline)]
    private static partial Regex Exponential();

    [GeneratedRegex(@"^\s+(tanh|lg2|sqrt|rcp)\.|^\s+cvt\.rmi\.", RegexOptions.Multiline)]
    private static partial Regex OtherFunctions();

    [Fact]
    public void A_silu_gemm_computes_one_exponential_per_stored_value_and_no_other_function()
    {
        var (silu, _) = Ptx.Value;
        // 64 × 64 outputs over 128 threads: 32 stores a thread, each v / (1 + e^-v).
        Assert.Equal(32, Exponential().Matches(silu).Count);
        Assert.Empty(OtherFunctions().Matches(silu));
    }

    [Fact]
    public void An_unactivated_gemm_has_no_activation_code()
    {
        var (silu, identity) = Ptx.Value;
        Assert.Empty(Exponential().Matches(identity));
        Assert.True(identity.Length < silu.Length, "the identity kernel should be the smaller one");
    }
}
