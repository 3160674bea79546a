using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;

namespace MoeDetect.Pipeline.Inference;

/// <summary>What the detector found in one frame, with the frame's identity and size, and for MoE models the
/// route it took.</summary>
public sealed record FrameDetections(string Source, long FrameIndex, double TimestampMs, int Width, int Height,
    IReadOnlyList<Detection> Detections, FrameRoute? Route);
