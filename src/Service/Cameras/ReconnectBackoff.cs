using MoeDetect.Service.Configuration;

namespace MoeDetect.Service.Cameras;

/// <summary>Exponential backoff with "equal jitter": the n-th wait is between half and all of
/// min(max, initial·2ⁿ), so that many cameras (or services) that lost the same server do not retry in step.</summary>
public sealed class ReconnectBackoff(ReconnectOptions options)
{
    private int _failures;

    public TimeSpan NextDelay()
    {
        double ceiling = Math.Min(options.MaxSeconds, options.InitialSeconds * Math.Pow(2, Math.Min(_failures, 30)));
        _failures++;
        return TimeSpan.FromSeconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
    }

    public void Reset() => _failures = 0;
}
