using MoeDetect.Model.Detections;

namespace MoeDetect.Service.Tracking;

/// <summary>One object followed across frames: a stable id, its label, scores, last measured box and the
/// Kalman-predicted box used to find it in the next frame.</summary>
public sealed class TrackedObject
{
    private KalmanAxis _cx, _cy, _w, _h;

    internal TrackedObject(long id, Detection detection, DateTimeOffset seen)
    {
        Id = id;
        ClassId = detection.ClassId;
        Label = detection.Label;
        Box = detection.Box;
        Score = TopScore = detection.Score;
        FirstSeen = LastSeen = seen;
        Hits = 1;
        float scale = detection.Box.Height;
        _cx = new KalmanAxis((Box.X1 + Box.X2) / 2, scale);
        _cy = new KalmanAxis((Box.Y1 + Box.Y2) / 2, scale);
        _w = new KalmanAxis(Box.Width, scale);
        _h = new KalmanAxis(Box.Height, scale);
    }

    public long Id { get; }
    public int ClassId { get; }
    public string Label { get; }
    public BoxF Box { get; private set; }
    public float Score { get; private set; }
    public float TopScore { get; private set; }
    public DateTimeOffset FirstSeen { get; }
    public DateTimeOffset LastSeen { get; private set; }

    /// <summary>The object as a detection, captioned with its id: what snapshots and clips draw.</summary>
    public Detection ToDetection() => new(ClassId, $"{Label} #{Id}", Score, Box);
    public int Hits { get; private set; }
    /// <summary>Seen often enough to be reported (its "new" event has gone out).</summary>
    public bool Confirmed { get; internal set; }
    /// <summary>Not matched in the latest frame; kept for a while in case it reappears.</summary>
    public bool Lost { get; internal set; }

    public BoxF PredictedBox => BoxF.FromCenter((float)_cx.Value, (float)_cy.Value, (float)Math.Max(1, _w.Value), (float)Math.Max(1, _h.Value));

    internal void Predict()
    {
        double scale = Math.Max(1, _h.Value);
        _cx.Predict(scale);
        _cy.Predict(scale);
        _w.Predict(scale);
        _h.Predict(scale);
    }

    internal void Correct(Detection detection, DateTimeOffset seen)
    {
        double scale = Math.Max(1, _h.Value);
        var b = detection.Box;
        _cx.Correct((b.X1 + b.X2) / 2, scale);
        _cy.Correct((b.Y1 + b.Y2) / 2, scale);
        _w.Correct(b.Width, scale);
        _h.Correct(b.Height, scale);
        Box = b;
        Score = detection.Score;
        TopScore = Math.Max(TopScore, detection.Score);
        LastSeen = seen;
        Hits++;
        Lost = false;
    }
}
