using System.Text.Json;
using System.Text.Json.Nodes;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Timing;

namespace MoeDetect.Pipeline.Offline;

/// <summary>Everything a finished offline run tells: per-input outcomes, per-stage timings, routes (MoE models),
/// wall time and throughput. Serialises to <c>summary.json</c>.</summary>
public sealed record RunReport(string ModelPath, string Engine, IReadOnlyList<InputOutcome> Inputs,
    IReadOnlyList<StageSummary> Stages, RouteSummary? Routes, double WallSeconds)
{
    public long FramesProcessed => Inputs.Sum(i => i.FramesProcessed);
    public long FramesDecoded => Inputs.Sum(i => i.FramesDecoded);
    public double FramesPerSecond => FramesProcessed / Math.Max(1e-9, WallSeconds);
    public int FailedInputs => Inputs.Count(i => i.Status == "failed");

    public string ToJson()
    {
        var root = new JsonObject
        {
            ["model"] = ModelPath,
            ["engine"] = Engine,
            ["frames"] = FramesProcessed,
            ["frames_decoded"] = FramesDecoded,
            ["wall_time_s"] = Math.Round(WallSeconds, 3),
            ["fps"] = Math.Round(FramesPerSecond, 2),
            ["stages"] = new JsonObject(Stages.Select(s => KeyValuePair.Create(s.Stage, (JsonNode?)new JsonObject
            {
                ["count"] = s.Count,
                ["mean_ms"] = Math.Round(s.MeanMs, 3),
                ["p50_ms"] = Math.Round(s.P50Ms, 3),
                ["p95_ms"] = Math.Round(s.P95Ms, 3),
                ["max_ms"] = Math.Round(s.MaxMs, 3),
            }))),
            ["inputs"] = new JsonArray(Inputs.Select(i => (JsonNode?)new JsonObject
            {
                ["source"] = i.Source.Location,
                ["name"] = i.Source.Name,
                ["status"] = i.Status,
                ["error"] = i.Error,
                ["frames_decoded"] = i.FramesDecoded,
                ["frames"] = i.FramesProcessed,
                ["detections"] = i.Detections,
                ["jsonl"] = i.JsonlPath is null ? null : Path.GetFileName(i.JsonlPath),
                ["video"] = i.VideoPath is null ? null : Path.GetFileName(i.VideoPath),
                ["wall_time_s"] = Math.Round(i.WallSeconds, 3),
            }).ToArray()),
            ["failed_inputs"] = FailedInputs,
        };
        if (Routes is { } r)
        {
            root["routing"] = new JsonObject
            {
                ["frames"] = r.Frames,
                ["gflops_mean"] = Math.Round(r.MeanGflops, 4),
                ["gflops_min"] = Math.Round(r.MinGflops, 4),
                ["gflops_max"] = Math.Round(r.MaxGflops, 4),
                ["route_flip_rate"] = Math.Round(r.FlipRate, 4),
                ["expert_usage"] = new JsonArray(r.ExpertUsage.Select(block => (JsonNode?)new JsonArray(block.Select(c => (JsonNode?)c).ToArray())).ToArray()),
            };
        }
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
