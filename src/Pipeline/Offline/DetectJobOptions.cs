using MoeDetect.Pipeline.Sources;

namespace MoeDetect.Pipeline.Offline;

/// <summary>What an offline run processes and writes: every <see cref="FrameStride"/>-th frame, at most
/// <see cref="MaxFrames"/> processed frames per input, detections batched by <see cref="BatchSize"/>.</summary>
public sealed record DetectJobOptions(IReadOnlyList<SourceSpec> Sources, string OutputFolder, int FrameStride = 1,
    long? MaxFrames = null, bool SaveVideo = false, int BatchSize = 1);

/// <summary>How one input went. Status: ok, partial (stopped early by an error; what was produced is kept) or failed.</summary>
public sealed record InputOutcome(SourceSpec Source, string Status, string? Error, long FramesDecoded, long FramesProcessed,
    long Detections, string? JsonlPath, string? VideoPath, double WallSeconds);
