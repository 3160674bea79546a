namespace MoeDetect.Model.Engines.Auto;

/// <summary>The engine <c>--engine auto</c> runs where this machine has not timed both engines on the model and batch:
/// the faster one in the project's own H100 measurement, docs/results/2026-11-25-h100-c/README.md (table "Product
/// path"; the rows themselves in its final/moedetect-with-pytorch.md). There the ILGPU engine was faster only for the
/// ES-MoE model (<c>.moedet</c>) at batch 1, and ONNX Runtime for it at batch 8 and 32 and for every <c>.onnx</c>
/// model (CenterNet, YOLOv8n, NanoDet) at every batch. Between measured batches the nearest one decides: for a
/// <c>.moedet</c>, batch 1–4 runs ilgpu and 5 up ort, which is also where the two engines' ms per batch, taken as
/// straight lines between batch 1 and 8, cross (batch 4.65). An H200 run with this rule's engines after the ILGPU
/// changes of 2026-12-05 ordered them the same way (docs/results/2026-12-05-h200: ES-MoE batch 1 3.10 vs 4.02 ms,
/// batch 8 10.98 vs 7.80).</summary>
public static class ProjectBenchRule
{
    private const string Source = "docs/results/2026-11-25-h100-c";

    /// <summary>The ES-MoE model's two product paths: ms per batch from the results ÷ the batch.</summary>
    private static readonly (int Batch, EngineTimes Times)[] MixtureOfExperts =
    [
        (1, new(OrtMsPerFrame: 5.386, IlgpuMsPerFrame: 3.241)),
        (8, new(OrtMsPerFrame: 9.796 / 8, IlgpuMsPerFrame: 11.763 / 8)),
        (32, new(OrtMsPerFrame: 23.677 / 32, IlgpuMsPerFrame: 37.807 / 32)),
    ];

    public static EngineChoice Choose(ModelFingerprint model, int batch)
    {
        if (!model.IsMixtureOfExperts)
            return new(GpuEngines.Ort, $"faster than ilgpu for every .onnx model (CenterNet, YOLOv8n, NanoDet) at every batch in the project's H100 bench, {Source}");
        var (measured, times) = MixtureOfExperts.MinBy(p => Math.Abs(p.Batch - batch));
        string nearest = measured == batch ? "" : $", the measured batch nearest {batch},";
        return new(times.Faster, $"faster for the ES-MoE model (.moedet) at batch {measured}{nearest} in the project's H100 bench, {times} ({Source})");
    }
}
