using MoeDetect.Model.Engines;

namespace MoeDetect.Pipeline.Timing;

/// <summary>A batch's engine stages into the statistics, frames sharing them: upload, inference and download, and for
/// a routed engine (its output has routes) inference split into route, experts and the rest of the network.</summary>
public static class EngineStageTimes
{
    public static void Add(StageStatistics statistics, EngineOutput output, int frames)
    {
        var t = output.Timings;
        statistics.AddShared(Stages.Upload, t.UploadMs, frames);
        statistics.AddShared(Stages.Inference, t.InferenceMs, frames);
        statistics.AddShared(Stages.Download, t.DownloadMs, frames);
        if (output.Routes is null) return;
        statistics.AddShared(Stages.Route, t.RouteMs, frames);
        statistics.AddShared(Stages.Experts, t.ExpertsMs, frames);
        statistics.AddShared(Stages.RestOfNet, t.RestOfNetMs, frames);
    }
}
