using System.Collections.Concurrent;

namespace MoeDetect.Pipeline.Timing;

/// <summary>Summary of one stage's per-frame times in milliseconds.</summary>
public sealed record StageSummary(string Stage, long Count, double MeanMs, double P50Ms, double P95Ms, double MaxMs);

/// <summary>Collects per-frame milliseconds for each stage and summarises them. Thread-safe: stages run on
/// different threads.</summary>
public sealed class StageStatistics
{
    private readonly ConcurrentDictionary<string, List<double>> _samples = new();

    public void Add(string stage, double milliseconds)
    {
        var list = _samples.GetOrAdd(stage, _ => []);
        lock (list) list.Add(milliseconds);
    }

    /// <summary>Records a batch's time as an equal share per frame, so that per-frame statistics stay comparable
    /// across batch sizes.</summary>
    public void AddShared(string stage, double batchMilliseconds, int frames)
    {
        for (int i = 0; i < frames; i++) Add(stage, batchMilliseconds / frames);
    }

    /// <summary>Stages in corridor order; stages never recorded are left out.</summary>
    public IReadOnlyList<StageSummary> Summarise()
    {
        var known = Stages.Order.Where(_samples.ContainsKey);
        var others = _samples.Keys.Except(Stages.Order).Order();
        return known.Concat(others).Select(Summarise).ToList();
    }

    private StageSummary Summarise(string stage)
    {
        double[] values;
        var list = _samples[stage];
        lock (list) values = list.ToArray();
        Array.Sort(values);
        return new StageSummary(stage, values.Length, values.Average(), Percentile(values, 0.50), Percentile(values, 0.95),
            values[^1]);
    }

    /// <summary>Nearest-rank percentile on sorted values.</summary>
    public static double Percentile(double[] sorted, double q)
    {
        if (sorted.Length == 0) return 0;
        int rank = (int)Math.Ceiling(q * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
