namespace MoeDetect.Model.Engines;

/// <summary>Milliseconds an engine spent on one batch, split the way users need to see them: copying in,
/// running the net (and, for MoE models, the routers and the experts within it), copying out. <paramref name="Flops"/>:
/// the arithmetic the batch's inference ran (2 × the multiply-adds of its convolutions, the chosen experts' only), for
/// achieved TFLOP/s; 0 where the engine does not count it (ONNX Runtime's).</summary>
public sealed record EngineTimings(double UploadMs, double InferenceMs, double DownloadMs, double RouteMs = 0, double ExpertsMs = 0,
    double Flops = 0)
{
    public static readonly EngineTimings Zero = new(0, 0, 0);

    /// <summary>Both runs' times and arithmetic added: a batch run as several plan runs.</summary>
    public EngineTimings Plus(EngineTimings other) => new(UploadMs + other.UploadMs, InferenceMs + other.InferenceMs,
        DownloadMs + other.DownloadMs, RouteMs + other.RouteMs, ExpertsMs + other.ExpertsMs, Flops + other.Flops);

    /// <summary>Inference less route and experts: the network's dense segments and the waits between them. Route and
    /// experts are device times (between stream markers) on the GPU engines, inference a host clock: the difference
    /// cannot be negative but for clock granularity.</summary>
    public double RestOfNetMs => Math.Max(0, InferenceMs - RouteMs - ExpertsMs);
}
