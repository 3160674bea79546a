using MoeDetect.Service.Batching;
using MoeDetect.Service.Cameras;
using MoeDetect.Service.Mqtt;

namespace MoeDetect.Service.Health;

/// <summary>The service at a glance, as /healthz answers and <c>&lt;prefix&gt;/stats</c> publishes it.</summary>
public sealed class ServiceReport(IReadOnlyList<CameraFeed> feeds, MqttPublisher mqtt, BatchingDetector detector)
{
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;

    /// <summary>Healthy while some camera delivers frames and the detector keeps up with them.</summary>
    public bool IsHealthy(out string reason)
    {
        reason = "ok";
        if (detector.ExecuteTask is { IsCompleted: true })
            reason = "the detector has stopped";
        else if (!feeds.Any(f => f.Status.State == CameraState.Online))
            reason = "no camera is online";
        else if (feeds.Any(f => f.Frames.Count > 0) && (DateTimeOffset.UtcNow - detector.LastBatchAt).TotalSeconds > 30)
            reason = "the detector has not finished a batch for 30 s";
        return reason == "ok";
    }

    public object Camera(CameraFeed f) => new
    {
        state = f.Status.State.ToString().ToLowerInvariant(),
        since = f.Status.Since,
        error = f.Status.Error,
        fps = Math.Round(f.ProcessedRate.PerSecond, 2),
        decoded = f.Decoded,
        processed = f.Processed,
        dropped = f.Dropped,
        skipped = f.Skipped,
        reconnects = f.Status.Reconnects,
        last_gap_seconds = f.Status.LastGapSeconds,
    };

    public object Build()
    {
        bool healthy = IsHealthy(out var reason);
        return new
        {
            status = healthy ? "ok" : "unhealthy",
            reason,
            uptime_seconds = Math.Round((DateTimeOffset.UtcNow - _started).TotalSeconds, 1),
            detector = new { frames_processed = detector.FramesProcessed, last_batch = detector.LastBatchAt },
            mqtt = new { enabled = mqtt.Enabled, connected = mqtt.IsConnected, queue_depth = mqtt.QueueDepth, dropped_oldest = mqtt.DroppedOldest },
            cameras = feeds.ToDictionary(f => f.Name, Camera),
        };
    }
}
