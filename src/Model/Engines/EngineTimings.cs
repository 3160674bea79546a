namespace MoeDetect.Model.Engines;

/// <summary>Milliseconds an engine spent on one batch, split the way users need to see them: copying in,
/// running the net (and, for MoE models, the routers and the experts within it), copying out.</summary>
public sealed record EngineTimings(double UploadMs, double InferenceMs, double DownloadMs, double RouteMs = 0, double ExpertsMs = 0)
{
    /// <summary>Inference less route and experts: the network's dense segments and the waits between them. Route and
    /// experts are device times (between stream markers) on the GPU engines, inference a host clock: the difference
    /// cannot be negative but for clock granularity.</summary>
    public double RestOfNetMs => Math.Max(0, InferenceMs - RouteMs - ExpertsMs);
}
