namespace MoeDetect.Model.Engines;

/// <summary>Milliseconds an engine spent on one batch, split the way users need to see them: copying in,
/// running the net (and, for MoE models, the routers and the experts within it), copying out.</summary>
public sealed record EngineTimings(double UploadMs, double InferenceMs, double DownloadMs, double RouteMs = 0, double ExpertsMs = 0);
