using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tools.IlgpuBench;

/// <summary><c>ilgpu-bench ptx &lt;out-dir&gt;</c>: the tensor-core GEMM's PTX for sm_90 as ILGPU writes it
/// (<c>tensor-core.ptx</c>) and as the engine loads it, its inline-PTX slots made registers (<c>tensor-core-promoted.ptx</c>).
/// Needs no GPU, so the PTX can be made here and checked with <c>ptxas -arch=sm_90 -v</c> (registers, spills) on a
/// machine that has CUDA.</summary>
internal static class PtxDump
{
    public static void Run(string outDir)
    {
        Directory.CreateDirectory(outDir);
        using var context = Context.Create(b => b.Default().EnableAlgorithms());
        var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, null!);
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(((Delegate)TensorCoreConvolutionKernel.Run).Method);
        var ptx = ((PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty)).PTXAssembly;
        File.WriteAllText(Path.Combine(outDir, "tensor-core.ptx"), ptx);
        File.WriteAllText(Path.Combine(outDir, "tensor-core-promoted.ptx"), PromotedKernelLoader.Rewrite(ptx));
        Console.WriteLine($"wrote {outDir}/tensor-core.ptx and tensor-core-promoted.ptx");
    }
}
