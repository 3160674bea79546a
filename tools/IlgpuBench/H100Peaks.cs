namespace MoeDetect.Tools.IlgpuBench;

/// <summary>H100 SXM dense peaks (NVIDIA datasheet), for the fraction of peak the benches report: FP16 tensor cores
/// with FP32 accumulation, and FP32 on CUDA cores.</summary>
internal static class H100Peaks
{
    public const double TensorCoreTflops = 989.4, Fp32Tflops = 66.9;

    public static double Tflops(double flops, double ms) => flops / (ms * 1e9);
}
