using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tools.IlgpuBench;

/// <summary><c>ilgpu-bench ptx &lt;out-dir&gt;</c>: the tensor-core GEMM's PTX for sm_90 (compiled with SiLU fused, as YOLOv8's layers), per tile
/// (<c>tensor-core-64x64</c>, <c>tensor-core-32x128</c>) and precision (<c>tensor-core-fp16-…</c>: FP16 operands), as ILGPU writes it (<c>.ptx</c>) and as the engine loads it,
/// its inline-PTX slots made registers (<c>-promoted.ptx</c>); and the strided copy of Concat/Split/Transpose
/// (<c>copy.ptx</c>), the 16-byte depthwise kernel (<c>depthwise-rows.ptx</c>) and the staged-weights convolution as the
/// engine loads it (<c>staged-weights.ptx</c>).
/// Needs no GPU, so the PTX can be made here and checked with <c>ptxas -arch=sm_90 -v</c> (registers, spills) on a
/// machine that has CUDA.</summary>
internal static class PtxDump
{
    public static void Run(string outDir)
    {
        Directory.CreateDirectory(outDir);
        using var compiler = new SmPtxCompiler();
        Write(compiler, TensorCoreConvolutionKernel.Run<SquareTensorCoreTile, SiluFunction, PtxIsa>, Path.Combine(outDir, "tensor-core-64x64"));
        Write(compiler, TensorCoreConvolutionKernel.Run<WideTensorCoreTile, SiluFunction, PtxIsa>, Path.Combine(outDir, "tensor-core-32x128"));
        Write(compiler, Fp16TensorCoreConvolutionKernel.Run<SquareTensorCoreTile, SiluFunction, PtxIsa>, Path.Combine(outDir, "tensor-core-fp16-64x64"));
        Write(compiler, Fp16TensorCoreConvolutionKernel.Run<WideTensorCoreTile, SiluFunction, PtxIsa>, Path.Combine(outDir, "tensor-core-fp16-32x128"));
        Write(compiler, Fp16TensorCoreConvolutionKernel.RunChunkedInputs<SquareTensorCoreTile, SiluFunction, PtxIsa>, Path.Combine(outDir, "tensor-core-fp16-chunked-64x64"));
        Write(compiler, RowSegmentConvolutionKernel.Run<SquareTensorCoreTile, SiluFunction, PtxIsa, UnitStride>, Path.Combine(outDir, "tensor-core-row-segments-64x64"));
        Write(compiler, RowSegmentConvolutionKernel.Run<WideTensorCoreTile, SiluFunction, PtxIsa, UnitStride>, Path.Combine(outDir, "tensor-core-row-segments-32x128"));
        Write(compiler, RowSegmentConvolutionKernel.Run<SquareTensorCoreTile, SiluFunction, PtxIsa, DoubleStride>, Path.Combine(outDir, "tensor-core-row-segments-stride-2-64x64"));
        Action<Index1D, ArrayView<float>, ArrayView<float>, Dims6, Dims6, int, Dims6, int, Activation> copy = ElementwiseKernels.Copy;
        WriteImplicit(compiler, copy.Method, Path.Combine(outDir, "copy.ptx"));
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation,
            SpecializedValue<DepthwiseRowsWindow>, SpecializedValue<FusedFunction>> depthwiseRows = DepthwiseRowsKernel.Run;
        WriteImplicit(compiler, depthwiseRows.Method, Path.Combine(outDir, "depthwise-rows.ptx"));
        Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, ImageStrides, Activation> staged = StagedWeightsConvolutionKernel.Run<PtxIsa>;
        string stagedPath = Path.Combine(outDir, "staged-weights.ptx");
        File.WriteAllText(stagedPath, KernelLoader.PromotedTensorCorePtx(compiler.ExplicitlyGrouped(staged.Method)));
        Console.WriteLine($"wrote {stagedPath}");
    }

    private static void WriteImplicit(SmPtxCompiler compiler, System.Reflection.MethodInfo kernel, string path)
    {
        File.WriteAllText(path, compiler.ImplicitlyGrouped(kernel));
        Console.WriteLine($"wrote {path}");
    }

    private static void Write(SmPtxCompiler compiler, Action<long, long, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry, Activation> kernel, string path)
    {
        var ptx = compiler.ExplicitlyGrouped(kernel.Method);
        File.WriteAllText(path + ".ptx", ptx);
        File.WriteAllText(path + "-promoted.ptx", KernelLoader.PromotedTensorCorePtx(ptx));
        Console.WriteLine($"wrote {path}.ptx and {path}-promoted.ptx");
    }
}
