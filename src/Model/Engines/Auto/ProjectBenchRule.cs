namespace MoeDetect.Model.Engines.Auto;

/// <summary>The engine <c>--engine auto</c> runs where this machine has not timed both engines on the model and batch:
/// the faster one in the project's own H100 measurement, docs/results/2026-12-05-h100-bench (gpu-bench.md: ms per
/// batch end to end; for ONNX Runtime its faster product row, IOBinding with or without CUDA graphs). There the ILGPU
/// engine was faster for the bundled CenterNet at batch 1, 8 and 32, and for the ES-MoE model (<c>.moedet</c>) at
/// batch 1; ONNX Runtime for the ES-MoE model at batch 8 and 32 and for YOLOv8n and NanoDet-g at every batch. Between
/// measured batches the nearest one decides (for a <c>.moedet</c>: batch 1–4 ilgpu, 5 up ort). The measurement of
/// 2026-11-25 (docs/results/2026-11-25-h100-c), before the ILGPU kernel changes of 2026-12-05, had ONNX Runtime
/// faster for CenterNet too.</summary>
public static class ProjectBenchRule
{
    private const string Source = "docs/results/2026-12-05-h100-bench";

    /// <summary>models/centernet-mnv3.onnx, the converted teacher that ships with the project.</summary>
    private const string BundledCenterNetSha256 = "d2c9b872edee0e16c28d00975c478488e2a959ecd7a133be8c8f0e6fbc300101";

    /// <summary>The ES-MoE model's two product paths: ms per batch from the results ÷ the batch.</summary>
    private static readonly (int Batch, EngineTimes Times)[] MixtureOfExperts =
    [
        (1, new(OrtMsPerFrame: 6.414, IlgpuMsPerFrame: 2.958)),
        (8, new(OrtMsPerFrame: 8.707 / 8, IlgpuMsPerFrame: 9.433 / 8)),
        (32, new(OrtMsPerFrame: 23.481 / 32, IlgpuMsPerFrame: 30.879 / 32)),
    ];

    private static readonly (int Batch, EngineTimes Times)[] CenterNet =
    [
        (1, new(OrtMsPerFrame: 1.481, IlgpuMsPerFrame: 1.416)),
        (8, new(OrtMsPerFrame: 5.170 / 8, IlgpuMsPerFrame: 5.021 / 8)),
        (32, new(OrtMsPerFrame: 19.457 / 32, IlgpuMsPerFrame: 16.761 / 32)),
    ];

    public static EngineChoice Choose(ModelFingerprint model, int batch)
    {
        if (model.IsMixtureOfExperts) return Nearest(MixtureOfExperts, "the ES-MoE model (.moedet)", batch);
        if (model.Sha256 == BundledCenterNetSha256) return Nearest(CenterNet, "the bundled CenterNet (centernet-mnv3.onnx)", batch);
        return new(GpuEngines.Ort, $"faster than ilgpu for YOLOv8n and NanoDet-g at every batch in the project's H100 bench, {Source}");
    }

    private static EngineChoice Nearest((int Batch, EngineTimes Times)[] measurements, string model, int batch)
    {
        var (measured, times) = measurements.MinBy(p => Math.Abs(p.Batch - batch));
        string nearest = measured == batch ? "" : $", the measured batch nearest {batch},";
        return new(times.Faster, $"faster for {model} at batch {measured}{nearest} in the project's H100 bench, {times} ({Source})");
    }
}
