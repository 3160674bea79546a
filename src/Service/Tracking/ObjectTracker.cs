using MoeDetect.Model.Detections;
using MoeDetect.Service.Configuration;

namespace MoeDetect.Service.Tracking;

/// <summary>What one frame changed: objects confirmed now, confirmed objects seen again, and objects gone for
/// longer than the lost time (or all of them when the camera closes).</summary>
public sealed record TrackingStep(IReadOnlyList<TrackedObject> Started, IReadOnlyList<TrackedObject> Seen, IReadOnlyList<TrackedObject> Ended);

/// <summary>ByteTrack-style multi-object tracking for one camera. Detections at or above the high threshold are
/// matched first against every kept track (by IoU with the Kalman prediction, same label only); the remaining
/// active tracks then get a second chance with the low-score detections, which keeps occluded or blurred objects
/// from breaking into new ids. Only high-score detections start tracks; a track is confirmed after
/// <see cref="TrackingOptions.MinHits"/> frames. Matching is greedy by IoU, highest first.</summary>
public sealed class ObjectTracker(TrackingOptions options, float highThreshold)
{
    private readonly List<TrackedObject> _tracks = [];
    private long _nextId = 1;

    public IReadOnlyList<TrackedObject> Tracks => _tracks;

    public TrackingStep Update(IReadOnlyList<Detection> detections, DateTimeOffset now)
    {
        foreach (var t in _tracks) t.Predict();
        var high = detections.Where(d => d.Score >= highThreshold).ToList();
        var low = detections.Where(d => d.Score < highThreshold && d.Score >= options.LowConfidence).ToList();

        var matched = new HashSet<TrackedObject>();
        var unmatchedHigh = Associate(_tracks, high, (float)options.MatchIou, matched, now);
        Associate(_tracks.Where(t => !t.Lost && !matched.Contains(t)).ToList(), low, (float)options.LowMatchIou, matched, now);

        var started = new List<TrackedObject>();
        var seen = new List<TrackedObject>();
        var ended = new List<TrackedObject>();
        foreach (var t in _tracks.ToList())
        {
            if (matched.Contains(t))
            {
                if (t.Confirmed) seen.Add(t);
                else if (t.Hits >= options.MinHits) Confirm(t, started);
                continue;
            }
            if (!t.Confirmed)
                _tracks.Remove(t);   // a tentative track that misses a frame was noise
            else if ((now - t.LastSeen).TotalSeconds > options.LostSeconds)
            {
                _tracks.Remove(t);
                ended.Add(t);
            }
            else t.Lost = true;
        }
        foreach (var d in unmatchedHigh)
        {
            var t = new TrackedObject(_nextId++, d, now);
            _tracks.Add(t);
            if (options.MinHits <= 1) Confirm(t, started);
        }
        return new TrackingStep(started, seen, ended);
    }

    /// <summary>Ends every confirmed track (the camera went offline or the service stops).</summary>
    public IReadOnlyList<TrackedObject> EndAll()
    {
        var ended = _tracks.Where(t => t.Confirmed).ToList();
        _tracks.Clear();
        return ended;
    }

    private static void Confirm(TrackedObject t, List<TrackedObject> started)
    {
        t.Confirmed = true;
        started.Add(t);
    }

    /// <summary>Greedy one-to-one matching by IoU above the threshold; returns the detections left unmatched.</summary>
    private static List<Detection> Associate(IReadOnlyList<TrackedObject> tracks, List<Detection> detections, float minIou,
        HashSet<TrackedObject> matched, DateTimeOffset now)
    {
        var pairs = new List<(float Iou, TrackedObject Track, Detection Detection)>();
        foreach (var t in tracks)
        {
            if (matched.Contains(t)) continue;
            var predicted = t.PredictedBox;
            foreach (var d in detections)
            {
                if (d.Label != t.Label) continue;
                float iou = predicted.IntersectionOverUnion(d.Box);
                if (iou >= minIou) pairs.Add((iou, t, d));
            }
        }
        var used = new HashSet<Detection>(ReferenceEqualityComparer.Instance);
        foreach (var (_, track, detection) in pairs.OrderByDescending(p => p.Iou))
        {
            if (matched.Contains(track) || used.Contains(detection)) continue;
            track.Correct(detection, now);
            matched.Add(track);
            used.Add(detection);
        }
        return detections.Where(d => !used.Contains(d)).ToList();
    }
}
