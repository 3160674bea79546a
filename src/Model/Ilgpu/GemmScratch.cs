using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>What <see cref="KernelLibrary.PointwiseConvolution"/> needs beside its operands, for GEMMs run outside a plan
/// (checks, benchmarks, tests): a workspace and zeroed split-K counters, each as large as the largest of the plans it is
/// made for needs. Plans have their own (<c>OperatorCompiler</c>).</summary>
internal sealed class GemmScratch : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _workspace;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _counters;

    public GemmScratch(KernelLibrary kernels, params PointwiseGeometry[] plans)
    {
        _workspace = DeviceMemory.Allocate(kernels.Accelerator, Math.Max(1, plans.Max(p => p.WorkspaceLength)), "GEMM workspace");
        _counters = kernels.Accelerator.Allocate1D<int>(Math.Max(1, plans.Max(p => p.SliceCounters)));
        _counters.MemSetToZero(kernels.Stream);
        kernels.Stream.Synchronize();
    }

    public ArrayView<float> Workspace => _workspace.View;
    public ArrayView<int> Counters => _counters.View;

    public void Dispose()
    {
        _workspace.Dispose();
        _counters.Dispose();
    }
}
