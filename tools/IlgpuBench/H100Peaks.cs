namespace MoeDetect.Tools.IlgpuBench;

/// <summary>H100 SXM dense peaks (NVIDIA datasheet), for the fraction of peak the benches report: FP16 and TF32 tensor
/// cores with FP32 accumulation (the engine's tensor-core GEMM is TF32), and FP32 on CUDA cores.</summary>
internal static class H100Peaks
{
    public const double TensorCoreTflops = 989.4, Tf32TensorCoreTflops = 494.7, Fp32Tflops = 66.9;

    public static double Tflops(double flops, double ms) => flops / (ms * 1e9);
}
