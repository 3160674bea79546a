using MoeDetect.Model.Detections;
using MoeDetect.Service.Configuration;
using MoeDetect.Service.Tracking;
using MoeDetect.Service.Zones;

namespace MoeDetect.Tests.Service;

public sealed class ObjectTrackerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TrackingOptions Options = new() { MinHits = 2, LostSeconds = 1 };

    private static Detection Person(float x, float score = 0.9f) => new(0, "person", score, new BoxF(x, 100, x + 40, 200));
    private static DateTimeOffset Frame(int i) => T0.AddMilliseconds(100 * i);

    [Fact]
    public void A_moving_object_keeps_one_id_from_new_to_end()
    {
        var tracker = new ObjectTracker(Options, highThreshold: 0.5f);
        var started = new List<TrackedObject>();
        var ids = new HashSet<long>();
        for (int i = 0; i < 30; i++)   // 12 px per frame: IoU with the last box alone would drop to 0.54
        {
            var step = tracker.Update([Person(10 + 12 * i)], Frame(i));
            started.AddRange(step.Started);
            Assert.Empty(step.Ended);
            foreach (var t in step.Seen) ids.Add(t.Id);
        }
        var track = Assert.Single(started);
        Assert.Equal([track.Id], ids);

        var ended = new List<TrackedObject>(tracker.Update([], Frame(30)).Ended);
        Assert.True(Math.Abs(track.PredictedBox.X1 - (10 + 12 * 30)) < 3, $"Kalman prediction {track.PredictedBox.X1} should have learnt the motion");
        for (int i = 31; i < 45; i++) ended.AddRange(tracker.Update([], Frame(i)).Ended);
        Assert.Same(track, Assert.Single(ended));
    }

    [Fact]
    public void A_new_object_is_reported_only_after_min_hits_and_single_misses_are_noise()
    {
        var tracker = new ObjectTracker(Options, 0.5f);
        Assert.Empty(tracker.Update([Person(10)], Frame(0)).Started);
        Assert.Empty(tracker.Update([], Frame(1)).Started);           // the tentative track is dropped
        Assert.Empty(tracker.Update([Person(10)], Frame(2)).Started);  // starts again from one hit
        var started = tracker.Update([Person(12)], Frame(3)).Started;
        Assert.Equal(2, Assert.Single(started).Id);
    }

    [Fact]
    public void Low_score_detections_keep_a_track_alive_but_never_start_one()
    {
        var tracker = new ObjectTracker(Options with { LostSeconds = 0.15 }, 0.5f);
        tracker.Update([Person(10)], Frame(0));
        var track = Assert.Single(tracker.Update([Person(12)], Frame(1)).Started);
        for (int i = 2; i < 10; i++)   // occluded: only weak detections for 0.8 s, longer than lost_seconds
        {
            var step = tracker.Update([Person(10 + 2 * i, score: 0.2f), Person(400, score: 0.3f)], Frame(i));
            Assert.Same(track, Assert.Single(step.Seen));
            Assert.Empty(step.Ended);
            Assert.Empty(step.Started);
        }
        Assert.Single(tracker.Tracks);   // the weak detection far away started nothing
        Assert.Same(track, Assert.Single(tracker.Update([Person(30)], Frame(10)).Seen));
    }

    [Fact]
    public void A_lost_object_that_reappears_within_lost_seconds_keeps_its_id()
    {
        var tracker = new ObjectTracker(Options, 0.5f);
        tracker.Update([Person(10)], Frame(0));
        var track = Assert.Single(tracker.Update([Person(10)], Frame(1)).Started);
        for (int i = 2; i < 6; i++) Assert.Empty(tracker.Update([], Frame(i)).Ended);
        Assert.True(track.Lost);
        Assert.Same(track, Assert.Single(tracker.Update([Person(10)], Frame(6)).Seen));
        Assert.False(track.Lost);
    }

    [Fact]
    public void Objects_of_different_labels_are_never_swapped()
    {
        var tracker = new ObjectTracker(Options with { MinHits = 1 }, 0.5f);
        var first = tracker.Update([Person(100), new Detection(2, "car", 0.9f, new BoxF(100, 100, 140, 200))], Frame(0)).Started;
        Assert.Equal(2, first.Count);
        var step = tracker.Update([new Detection(2, "car", 0.9f, new BoxF(102, 100, 142, 200)), Person(98)], Frame(1));
        Assert.Equal(first.OrderBy(t => t.Label).Select(t => (t.Id, t.Label)), step.Seen.OrderBy(t => t.Label).Select(t => (t.Id, t.Label)));
    }

    [Fact]
    public void Zones_hold_an_object_by_where_it_stands()
    {
        var porch = new Zone(new ZoneOptions { Name = "porch", Points = [new(100, 150), new(300, 150), new(300, 300), new(100, 300)] });
        Assert.True(porch.Contains(new BoxF(150, 50, 200, 200), 640, 480));    // feet (175, 200) inside
        Assert.False(porch.Contains(new BoxF(150, 20, 200, 140), 640, 480));   // head inside, feet above
        Assert.False(porch.Contains(new BoxF(320, 50, 360, 200), 640, 480));

        var relative = new Zone(new ZoneOptions { Name = "lower_half", Points = [new(0, 0.5), new(1, 0.5), new(1, 1), new(0, 1)], Labels = ["car"] });
        Assert.True(relative.Contains(new BoxF(10, 10, 50, 300), 640, 480));
        Assert.False(relative.Contains(new BoxF(10, 10, 50, 200), 640, 480));
        Assert.True(relative.Reports("car"));
        Assert.False(relative.Reports("person"));
    }
}
