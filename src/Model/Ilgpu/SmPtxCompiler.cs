using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Compiles a kernel to PTX for sm_90 (the H100) without a GPU, as the engine's default optimisation level
/// does: to read what ILGPU makes of a kernel (<c>ilgpu-bench ptx</c>, then <c>ptxas</c> on a CUDA machine) and to check
/// its shape in tests. A specialised value is compiled as a plain parameter, so its conditions stay in.</summary>
internal sealed class SmPtxCompiler : IDisposable
{
    private readonly Context _context = Context.Create(b => b.Default().EnableAlgorithms());
    private readonly PTXBackend _backend;

    public SmPtxCompiler() =>
        _backend = new PTXBackend(_context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, null!);

    /// <summary>The sm_90 backend itself (what <see cref="CompiledKernelCache"/> compiles with).</summary>
    public PTXBackend Backend => _backend;

    /// <summary>An explicitly grouped kernel (Grid/Group indices, shared memory) as ILGPU writes it.</summary>
    public string ExplicitlyGrouped(MethodInfo kernel) => Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel));

    /// <summary>An implicitly grouped kernel (an Index1D first parameter).</summary>
    public string ImplicitlyGrouped(MethodInfo kernel) => Compile(EntryPointDescription.FromImplicitlyGroupedKernel(kernel));

    private string Compile(EntryPointDescription entry) =>
        ((PTXCompiledKernel)_backend.Compile(entry, KernelSpecialization.Empty)).PTXAssembly;

    public void Dispose() => _context.Dispose();
}
