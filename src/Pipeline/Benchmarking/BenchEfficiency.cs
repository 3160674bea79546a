using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;

namespace MoeDetect.Pipeline.Benchmarking;

/// <summary>How hard inference worked the device: the arithmetic of the timed batches, as the engine counts it (its
/// convolutions, the chosen experts' only), over their inference milliseconds; and on a GPU of the peaks table
/// (<see cref="GpuPeak"/>) that rate as a fraction of its dense FP16 tensor-core peak (the yardstick) and of
/// its TF32 one (what the ILGPU engine's GEMMs run on).</summary>
public sealed record BenchEfficiency(double InferenceTflops, string? PeakOf = null, double? FractionOfFp16TensorCorePeak = null,
    double? FractionOfTf32TensorCorePeak = null)
{
    /// <summary>Null where the engine counted no arithmetic (ONNX Runtime's) or no inference time passed.</summary>
    public static BenchEfficiency? From(double flops, double inferenceMs, GpuPeak? peak)
    {
        if (flops <= 0 || inferenceMs <= 0) return null;
        double tflops = GpuPeak.Tflops(flops, inferenceMs);
        return peak is null ? new BenchEfficiency(tflops)
            : new BenchEfficiency(tflops, peak.Gpu, tflops / peak.Fp16TensorCoreTflops, tflops / peak.Tf32TensorCoreTflops);
    }

    /// <summary>Sums the arithmetic and inference time of the batches it is shown.</summary>
    public sealed class Tally
    {
        private double _flops, _inferenceMs;

        public void Add(EngineTimings timings)
        {
            _flops += timings.Flops;
            _inferenceMs += timings.InferenceMs;
        }

        public BenchEfficiency? Result(GpuPeak? peak) => From(_flops, _inferenceMs, peak);
    }
}
