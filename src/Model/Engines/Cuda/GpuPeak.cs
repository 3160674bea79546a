namespace MoeDetect.Model.Engines.Cuda;

/// <summary>Dense arithmetic peaks of an NVIDIA data-centre GPU (its datasheet, boost clock, without sparsity), for the
/// fraction of peak that benchmarks report: FP16 tensor cores with FP32 accumulation (the figure PyTorch's FP16 runs
/// are held to), TF32 tensor cores (the ILGPU engine's GEMMs) and FP32 on the CUDA cores.</summary>
public sealed record GpuPeak(string Gpu, double Fp16TensorCoreTflops, double Tf32TensorCoreTflops, double Fp32Tflops)
{
    public static readonly GpuPeak H100Sxm = new("H100 SXM", 989.4, 494.7, 66.9);

    /// <summary>By a part of the device name, the more specific names first ("NVIDIA H100 80GB HBM3" is the SXM part).</summary>
    private static readonly (string NamePart, GpuPeak Peak)[] Known =
    [
        ("H100 PCIe", new("H100 PCIe", 756.5, 378.0, 51.2)),
        ("H100 NVL", new("H100 NVL", 835.5, 417.5, 60.0)),
        ("H100", H100Sxm),
        ("H200 NVL", new("H200 NVL", 835.5, 417.5, 60.0)),
        ("H200", new("H200 SXM", 989.4, 494.7, 66.9)),
        ("A100", new("A100", 312.0, 156.0, 19.5)),
    ];

    /// <summary>The peaks of the GPU named <paramref name="deviceName"/> (as the driver names it), or null for a GPU
    /// not in the table.</summary>
    public static GpuPeak? For(string? deviceName) =>
        deviceName is null ? null : Known.FirstOrDefault(k => deviceName.Contains(k.NamePart, StringComparison.OrdinalIgnoreCase)).Peak;

    public static double Tflops(double flops, double ms) => flops / (ms * 1e9);
}
