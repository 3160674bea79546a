using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tools.IlgpuBench;

/// <summary><c>ilgpu-bench ptx &lt;out-dir&gt;</c>: the tensor-core GEMM's PTX for sm_90 (compiled with SiLU fused, as YOLOv8's layers), per tile
/// (<c>tensor-core-64x64</c>, <c>tensor-core-32x128</c>), as ILGPU writes it (<c>.ptx</c>) and as the engine loads it,
/// its inline-PTX slots made registers (<c>-promoted.ptx</c>); and the strided copy of Concat/Split/Transpose
/// (<c>copy.ptx</c>) and the 16-byte depthwise kernel (<c>depthwise-rows.ptx</c>).
/// Needs no GPU, so the PTX can be made here and checked with <c>ptxas -arch=sm_90 -v</c> (registers, spills) on a
/// machine that has CUDA.</summary>
internal static class PtxDump
{
    public static void Run(string outDir)
    {
        Directory.CreateDirectory(outDir);
        using var context = Context.Create(b => b.Default().EnableAlgorithms());
        var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, null!);
        Write(backend, TensorCoreConvolutionKernel.Run<SquareTensorCoreTile, SiluFunction>, Path.Combine(outDir, "tensor-core-64x64"));
        Write(backend, TensorCoreConvolutionKernel.Run<WideTensorCoreTile, SiluFunction>, Path.Combine(outDir, "tensor-core-32x128"));
        Action<Index1D, ArrayView<float>, ArrayView<float>, Dims6, Dims6, int, Dims6, int, Activation> copy = ElementwiseKernels.Copy;
        WriteImplicit(backend, copy.Method, Path.Combine(outDir, "copy.ptx"));
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation,
            SpecializedValue<DepthwiseRowsWindow>, SpecializedValue<FusedFunction>> depthwiseRows = DepthwiseRowsKernel.Run;
        WriteImplicit(backend, depthwiseRows.Method, Path.Combine(outDir, "depthwise-rows.ptx"));
    }

    /// <summary>An implicitly grouped kernel's PTX; a specialised value is compiled as a plain parameter here, so its
    /// conditions stay in (the loads and stores show as the kernel makes them).</summary>
    private static void WriteImplicit(PTXBackend backend, System.Reflection.MethodInfo kernel, string path)
    {
        File.WriteAllText(path, Compile(backend, EntryPointDescription.FromImplicitlyGroupedKernel(kernel)));
        Console.WriteLine($"wrote {path}");
    }

    private static string Compile(PTXBackend backend, EntryPointDescription entry) =>
        ((PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty)).PTXAssembly;

    private static void Write(PTXBackend backend, Action<long, long, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry, Activation> kernel, string path)
    {
        var ptx = Compile(backend, EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method));
        File.WriteAllText(path + ".ptx", ptx);
        File.WriteAllText(path + "-promoted.ptx", KernelLoader.PromotedTensorCorePtx(ptx));
        Console.WriteLine($"wrote {path}.ptx and {path}-promoted.ptx");
    }
}
