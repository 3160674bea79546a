using System.Text.RegularExpressions;

namespace MoeDetect.Service.Configuration;

/// <summary>The value rules of <see cref="ServiceOptions"/>, wherever they came from (file or flags). Each
/// problem carries the path the config file would use, e.g. <c>cameras[1].zones[0].points</c>.</summary>
public static partial class OptionsValidator
{
    public static IReadOnlyList<ConfigProblem> Check(ServiceOptions options)
    {
        var problems = new List<ConfigProblem>();
        void Require(bool ok, string path, string message)
        {
            if (!ok) problems.Add(new ConfigProblem(path, message));
        }

        Require(options.Cameras.Count > 0, "cameras", "needs at least one camera");
        Require(options.Cameras.Count == 0 || options.Cameras.Any(c => c.Enabled), "cameras", "every camera is disabled; enable at least one");
        var cameraNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < options.Cameras.Count; i++)
        {
            var c = options.Cameras[i];
            string p = $"cameras[{i}]";
            CheckName(c.Name, $"{p}.name", "camera", Require);
            Require(c.Name.Length == 0 || cameraNames.Add(c.Name), $"{p}.name", $"'{c.Name}' is used by another camera; names must be unique");
            Require(!string.IsNullOrWhiteSpace(c.Source), $"{p}.source", "is required: a stream URL (rtsp://...), a device number or a video file");
            Require(c.FpsLimit is null or > 0, $"{p}.fps_limit", $"must be above 0, got {c.FpsLimit}");
            if (c.InputSize is { } size)
                Require(size.Width >= 32 && size.Height >= 32, $"{p}.input_size", $"width and height must be at least 32, got {size.Width}x{size.Height}");
            Require(c.Confidence is > 0 and <= 1, $"{p}.confidence", $"must be in (0, 1], got {c.Confidence}");
            Require(c.Confidence > options.Tracking.LowConfidence, $"{p}.confidence",
                $"must be above tracking.low_confidence ({options.Tracking.LowConfidence}), got {c.Confidence}");
            Require(c.Labels is null || (c.Labels.Count > 0 && c.Labels.All(l => l.Length > 0)), $"{p}.labels", "must list at least one label (or be left out for all)");
            var zoneNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (int j = 0; j < c.Zones.Count; j++)
            {
                var z = c.Zones[j];
                string zp = $"{p}.zones[{j}]";
                CheckName(z.Name, $"{zp}.name", "zone", Require);
                Require(z.Name.Length == 0 || zoneNames.Add(z.Name), $"{zp}.name", $"'{z.Name}' is used by another zone of this camera");
                Require(z.Points.Count >= 3, $"{zp}.points", $"needs at least 3 points, got {z.Points.Count}");
                Require(z.Points.All(pt => pt.X >= 0 && pt.Y >= 0), $"{zp}.points", "coordinates must not be negative");
                Require(z.Labels is null || z.Labels.Count > 0, $"{zp}.labels", "must list at least one label (or be left out for all)");
            }
        }

        var m = options.Model;
        Require(m.Path is null || File.Exists(m.Path), "model.path", $"file not found: {m.Path} (leave it out for the bundled default model)");
        Require(m.Device is "cpu" or "gpu" or "auto", "model.device", $"must be cpu, gpu or auto, got '{m.Device}'");
        Require(m.Threads >= 0, "model.threads", $"must be 0 (automatic) or more, got {m.Threads}");
        Require(m.MaxBatch is >= 1 and <= 64, "model.max_batch", $"must be 1 to 64, got {m.MaxBatch}");
        Require(m.Iou is > 0 and <= 1, "model.iou", $"must be in (0, 1], got {m.Iou}");

        var q = options.Mqtt;
        Require(q.Host is null || q.Host.Length > 0, "mqtt.host", "must not be empty (leave it out to run without MQTT)");
        Require(q.Port is >= 1 and <= 65535, "mqtt.port", $"must be 1 to 65535, got {q.Port}");
        Require(q.TopicPrefix.Length > 0 && !q.TopicPrefix.Contains('#') && !q.TopicPrefix.Contains('+') && !q.TopicPrefix.StartsWith('/') && !q.TopicPrefix.EndsWith('/'),
            "mqtt.topic_prefix", $"must be a topic without wildcards (#, +) or leading/trailing '/', got '{q.TopicPrefix}'");
        Require(q.ClientId.Length > 0, "mqtt.client_id", "must not be empty");
        Require(q.Password is null || q.Username is not null, "mqtt.password", "is set but mqtt.username is not");
        Require(q.KeepAliveSeconds is >= 0 and <= 65535, "mqtt.keep_alive_seconds", $"must be 0 to 65535, got {q.KeepAliveSeconds}");
        Require(q.EventQos is >= 0 and <= 2, "mqtt.event_qos", $"must be 0, 1 or 2, got {q.EventQos}");
        Require(q.TelemetryQos is >= 0 and <= 2, "mqtt.telemetry_qos", $"must be 0, 1 or 2, got {q.TelemetryQos}");
        Require(q.QueueSize >= 1, "mqtt.queue_size", $"must be at least 1, got {q.QueueSize}");
        Require(q.DetectionsIntervalSeconds >= 0, "mqtt.detections_interval_seconds", $"must be 0 (every frame) or more, got {q.DetectionsIntervalSeconds}");
        Require(q.StatsIntervalSeconds > 0, "mqtt.stats_interval_seconds", $"must be above 0, got {q.StatsIntervalSeconds}");

        var t = options.Tracking;
        Require(t.LowConfidence is > 0 and < 1, "tracking.low_confidence", $"must be in (0, 1), got {t.LowConfidence}");
        Require(t.MatchIou is > 0 and <= 1, "tracking.match_iou", $"must be in (0, 1], got {t.MatchIou}");
        Require(t.LowMatchIou is > 0 and <= 1, "tracking.low_match_iou", $"must be in (0, 1], got {t.LowMatchIou}");
        Require(t.MinHits >= 1, "tracking.min_hits", $"must be at least 1, got {t.MinHits}");
        Require(t.LostSeconds > 0, "tracking.lost_seconds", $"must be above 0, got {t.LostSeconds}");
        Require(t.UpdateIntervalSeconds > 0, "tracking.update_interval_seconds", $"must be above 0, got {t.UpdateIntervalSeconds}");

        Require(options.Reconnect.InitialSeconds > 0, "reconnect.initial_seconds", $"must be above 0, got {options.Reconnect.InitialSeconds}");
        Require(options.Reconnect.MaxSeconds >= options.Reconnect.InitialSeconds, "reconnect.max_seconds",
            $"must be at least reconnect.initial_seconds ({options.Reconnect.InitialSeconds}), got {options.Reconnect.MaxSeconds}");
        Require(options.Outputs.RecordingTailSeconds >= 0, "outputs.recording_tail_seconds", $"must not be negative, got {options.Outputs.RecordingTailSeconds}");
        Require(options.Metrics.Host.Length > 0, "metrics.host", "must not be empty (127.0.0.1 serves this machine only; 0.0.0.0 every interface)");
        Require(options.Metrics.Port is >= 0 and <= 65535, "metrics.port", $"must be 0 (off) to 65535, got {options.Metrics.Port}");
        return problems;
    }

    private static void CheckName(string name, string path, string what, Action<bool, string, string> require) =>
        require(TopicSafeName().IsMatch(name), path,
            name.Length == 0 ? "is required" : $"'{name}' is not a usable {what} name: use letters, digits, '-' and '_' (it becomes an MQTT topic level)");

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex TopicSafeName();
}
