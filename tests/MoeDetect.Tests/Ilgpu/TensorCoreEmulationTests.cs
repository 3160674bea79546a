using ILGPU;
using ILGPU.Runtime.CPU;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The tensor-core GEMMs run whole on ILGPU's CPU accelerator, their PTX instructions emulated
/// (<see cref="MoeDetect.Kernels.Tensors.EmulatedIsa"/>) on a CPU device of 32-thread warps, 4 a group: each tile and
/// precision against the FP32 SIMT GEMM on the layers of the GPU's start-up check (<see cref="TensorCoreCheck"/>: 1×1 and
/// 3×3, strides 1 and 2, rows copied in chunks and value by value, tap-major, input scales, split-K, row segments).</summary>
public sealed class TensorCoreEmulationTests
{
    public static TheoryData<string> Kinds => new(KernelLibrary.TensorCoreKinds.Select(k => k.ToString()));

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Kinds))]
    public void Each_tensor_core_kernel_agrees_with_the_fp32_gemm_on_the_cpu_accelerator(string kind)
    {
        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 4, Environment.ProcessorCount)).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0, CPUAcceleratorMode.Parallel);
        var kernels = new KernelLibrary(accelerator);
        Assert.Null(TensorCoreCheck.Disagreement(kernels, KernelLibrary.TensorCoreKinds.Single(k => k.ToString() == kind)));
    }
}
