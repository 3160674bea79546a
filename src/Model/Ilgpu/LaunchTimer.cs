using System.Diagnostics;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Device time of one launch (or a few that belong together), for the benches: run once untimed, then
/// <paramref name="iterations"/> samples of ten back-to-back launches and a synchronisation; the median per launch.
/// Back to back, a launch shorter than the host's launch cost measures that cost instead.</summary>
internal sealed class LaunchTimer(Action synchronize, int iterations)
{
    public double Ms(Action launch)
    {
        launch();
        synchronize();
        var samples = new double[iterations];
        for (int i = 0; i < iterations; i++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int j = 0; j < 10; j++) launch();
            synchronize();
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds / 10;
        }
        Array.Sort(samples);
        return samples[iterations / 2];
    }
}
