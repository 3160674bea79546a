using MoeDetect.Service.Tracking;

namespace MoeDetect.Service.Events;

/// <summary>The life of one tracked object as published on <c>&lt;prefix&gt;/events</c>: its id (unique across
/// restarts), zones it is in and has entered, its snapshot, and when it started and ended.</summary>
internal sealed class ObjectEvent(string camera, TrackedObject track, int frameWidth, int frameHeight)
{
    public string Id { get; } = $"{track.FirstSeen.ToUnixTimeMilliseconds()}-{camera}-{track.Id}";
    public TrackedObject Track { get; } = track;
    public List<string> CurrentZones { get; } = [];
    public List<string> EnteredZones { get; } = [];
    public string? Snapshot { get; set; }
    public float SnapshotScore { get; set; }
    public DateTimeOffset? EndTime { get; set; }
    public DateTimeOffset LastPublished { get; set; }

    public object ToMessage(string type) => new
    {
        type,
        id = Id,
        camera,
        track_id = Track.Id,
        label = Track.Label,
        score = Math.Round(Track.Score, 3),
        top_score = Math.Round(Track.TopScore, 3),
        box = CameraEventProcessor.BoxArray(Track.Box),
        frame_width = frameWidth,
        frame_height = frameHeight,
        start_time = Track.FirstSeen,
        last_seen = Track.LastSeen,
        end_time = EndTime,
        current_zones = CurrentZones.ToArray(),
        entered_zones = EnteredZones.ToArray(),
        snapshot = Snapshot,
    };
}
