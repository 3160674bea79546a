using MoeDetect.Model.Detections;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Service.Cameras;
using MoeDetect.Service.Configuration;
using MoeDetect.Service.Health;
using MoeDetect.Service.Mqtt;
using MoeDetect.Service.Outputs;
using MoeDetect.Service.Tracking;
using MoeDetect.Service.Zones;

namespace MoeDetect.Service.Events;

/// <summary>Turns one camera's detections into what subscribers see: tracked objects with new/update/end events,
/// zone crossings, per-label counts and the per-frame detections message. Runs on the detector thread, one frame
/// at a time per camera.</summary>
public sealed class CameraEventProcessor : IDisposable
{
    private readonly CameraOptions _camera;
    private readonly TrackingOptions _tracking;
    private readonly MqttPublisher _mqtt;
    private readonly ServiceMetrics _metrics;
    private readonly SnapshotWriter? _snapshots;
    private readonly ClipRecorder? _recorder;
    private readonly ObjectTracker _tracker;
    private readonly IReadOnlyList<Zone> _zones;
    private readonly Dictionary<long, ObjectEvent> _events = [];
    private readonly Dictionary<string, int> _counts = [];
    private readonly double _detectionsInterval;
    private DateTimeOffset _lastDetections = DateTimeOffset.MinValue;

    public CameraEventProcessor(CameraOptions camera, ServiceOptions options, MqttPublisher mqtt, ServiceMetrics metrics)
    {
        _camera = camera;
        _tracking = options.Tracking;
        _mqtt = mqtt;
        _metrics = metrics;
        _tracker = new ObjectTracker(options.Tracking, (float)camera.Confidence);
        _zones = camera.Zones.Select(z => new Zone(z)).ToList();
        _detectionsInterval = options.Mqtt.DetectionsIntervalSeconds;
        if (options.Outputs.Snapshots is { } snapshots) _snapshots = new SnapshotWriter(snapshots);
        if (options.Outputs.Recordings is { } recordings)
            _recorder = new ClipRecorder(recordings, camera.Name, options.Outputs.RecordingTailSeconds, camera.FpsLimit ?? 10);
    }

    public void Process(CapturedFrame captured, FrameDetections result)
    {
        var now = captured.CapturedAt;
        var frame = captured.Frame;
        var detections = result.Detections
            .Where(d => d.Score >= _tracking.LowConfidence && (_camera.Labels is null || _camera.Labels.Contains(d.Label)))
            .ToList();
        var step = _tracker.Update(detections, now);

        foreach (var t in step.Started)
        {
            var e = new ObjectEvent(_camera.Name, t, frame.Width, frame.Height);
            _events[t.Id] = e;
            ChangeZones(e, frame.Width, frame.Height, now);
            if (_snapshots is not null)
                e.Snapshot = _snapshots.Write(frame.Image, _camera.Name, e.Id, t);
            e.SnapshotScore = t.TopScore;
            Send(e, "new", now);
        }
        foreach (var t in step.Seen)
        {
            var e = _events[t.Id];
            bool zonesChanged = ChangeZones(e, frame.Width, frame.Height, now);
            if (zonesChanged || (now - e.LastPublished).TotalSeconds >= _tracking.UpdateIntervalSeconds)
            {
                if (_snapshots is not null && t.TopScore > e.SnapshotScore && t.Score == t.TopScore)
                {
                    e.Snapshot = _snapshots.Write(frame.Image, _camera.Name, e.Id, t);
                    e.SnapshotScore = t.TopScore;
                }
                Send(e, "update", now);
            }
        }
        End(step.Ended, now);
        PublishCounts();
        _recorder?.Add(frame.Image, _tracker.Tracks, now);

        if (_detectionsInterval == 0 || (now - _lastDetections).TotalSeconds >= _detectionsInterval)
        {
            _lastDetections = now;
            _mqtt.PublishTelemetry(_mqtt.Topics.Detections(_camera.Name), new
            {
                camera = _camera.Name,
                frame = frame.Index,
                time = now,
                width = frame.Width,
                height = frame.Height,
                detections = detections.Where(d => d.Score >= _camera.Confidence)
                    .Select(d => new { label = d.Label, score = Math.Round(d.Score, 3), box = BoxArray(d.Box) }),
                objects = _tracker.Tracks.Where(t => t.Confirmed && !t.Lost)
                    .Select(t => new { id = _events[t.Id].Id, track_id = t.Id, label = t.Label, score = Math.Round(t.Score, 3), box = BoxArray(t.Box) }),
                gflops = result.Route?.Gflops,
                experts = result.Route?.ExpertsPerBlock,
            });
        }
    }

    /// <summary>Ends every object (camera offline, or the service stopping) so no event is left open.</summary>
    public void Close()
    {
        _recorder?.Dispose();   // the clip is complete before its end event goes out
        End(_tracker.EndAll(), DateTimeOffset.UtcNow);
        PublishCounts();
    }

    private void End(IReadOnlyList<TrackedObject> ended, DateTimeOffset now)
    {
        foreach (var t in ended)
        {
            if (!_events.Remove(t.Id, out var e)) continue;
            e.EndTime = t.LastSeen;
            foreach (var zone in e.CurrentZones.ToList())
                Cross(e, zone, "left", now);
            e.CurrentZones.Clear();
            Send(e, "end", now);
        }
    }

    /// <summary>Recomputes which zones the object stands in and publishes each crossing; true when any changed.</summary>
    private bool ChangeZones(ObjectEvent e, int width, int height, DateTimeOffset now)
    {
        bool changed = false;
        foreach (var zone in _zones.Where(z => z.Reports(e.Track.Label)))
        {
            bool inside = zone.Contains(e.Track.Box, width, height);
            if (inside == e.CurrentZones.Contains(zone.Name)) continue;
            changed = true;
            if (inside)
            {
                e.CurrentZones.Add(zone.Name);
                if (!e.EnteredZones.Contains(zone.Name)) e.EnteredZones.Add(zone.Name);
                Cross(e, zone.Name, "entered", now);
            }
            else
            {
                e.CurrentZones.Remove(zone.Name);
                Cross(e, zone.Name, "left", now);
            }
        }
        return changed;
    }

    private void Cross(ObjectEvent e, string zone, string type, DateTimeOffset now)
    {
        _metrics.CountEvent(_camera.Name, "zone_" + type);
        _mqtt.PublishDurable(_mqtt.Topics.ZoneCrossing(_camera.Name, zone), new
        {
            type,
            zone,
            camera = _camera.Name,
            id = e.Id,
            track_id = e.Track.Id,
            label = e.Track.Label,
            score = Math.Round(e.Track.Score, 3),
            box = BoxArray(e.Track.Box),
            time = now,
        });
    }

    private void Send(ObjectEvent e, string type, DateTimeOffset now)
    {
        e.LastPublished = now;
        _metrics.CountEvent(_camera.Name, type);
        _mqtt.PublishDurable(_mqtt.Topics.Events, e.ToMessage(type));
    }

    /// <summary>Frigate's per-camera, per-label object counts, retained and sent only when they change.</summary>
    private void PublishCounts()
    {
        var now = _events.Values.Where(e => !e.Track.Lost).GroupBy(e => e.Track.Label).ToDictionary(g => g.Key, g => g.Count());
        foreach (var label in now.Keys.Union(_counts.Keys).ToList())
        {
            int count = now.GetValueOrDefault(label);
            if (_counts.GetValueOrDefault(label, -1) == count) continue;
            _counts[label] = count;
            _mqtt.PublishTelemetry(_mqtt.Topics.LabelCount(_camera.Name, label), count, retain: true);
        }
    }

    internal static float[] BoxArray(BoxF b) => [MathF.Round(b.X1, 1), MathF.Round(b.Y1, 1), MathF.Round(b.X2, 1), MathF.Round(b.Y2, 1)];

    public void Dispose() => _recorder?.Dispose();
}
