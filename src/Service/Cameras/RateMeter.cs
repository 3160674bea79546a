using System.Diagnostics;

namespace MoeDetect.Service.Cameras;

/// <summary>Events per second over the last few whole seconds, from per-second buckets: cheap to mark from the
/// detector thread, read by metrics and stats.</summary>
public sealed class RateMeter(int windowSeconds = 5)
{
    private readonly long[] _counts = new long[windowSeconds + 1];
    private readonly long[] _seconds = new long[windowSeconds + 1];
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public void Mark()
    {
        long second = (long)_clock.Elapsed.TotalSeconds;
        int slot = (int)(second % _counts.Length);
        lock (_counts)
        {
            if (_seconds[slot] != second)
            {
                _seconds[slot] = second;
                _counts[slot] = 0;
            }
            _counts[slot]++;
        }
    }

    /// <summary>Mean rate over the last complete seconds of the window (the current second is still filling).</summary>
    public double PerSecond
    {
        get
        {
            long now = (long)_clock.Elapsed.TotalSeconds;
            int span = (int)Math.Min(windowSeconds, Math.Max(1, now));
            long total = 0;
            lock (_counts)
                for (int i = 0; i < _counts.Length; i++)
                    if (_seconds[i] < now && _seconds[i] >= now - span) total += _counts[i];
            return (double)total / span;
        }
    }
}
