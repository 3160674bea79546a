using MoeDetect.Model.Engines;

namespace MoeDetect.Pipeline.Inference;

/// <summary>Summary of the routes MoE models took: compute per frame and how often each expert of each block
/// was chosen.</summary>
public sealed record RouteSummary(long Frames, double MeanGflops, double MinGflops, double MaxGflops, IReadOnlyList<long[]> ExpertUsage);

/// <summary>Accumulates frame routes (thread-safe).</summary>
public sealed class RouteStatistics
{
    private readonly object _gate = new();
    private readonly List<long[]> _usage = [];
    private long _frames;
    private double _sum, _min = double.MaxValue, _max;

    public void Add(FrameRoute route)
    {
        lock (_gate)
        {
            _frames++;
            _sum += route.Gflops;
            _min = Math.Min(_min, route.Gflops);
            _max = Math.Max(_max, route.Gflops);
            for (int b = 0; b < route.ExpertsPerBlock.Count; b++)
            {
                if (_usage.Count <= b) _usage.Add([]);
                foreach (int e in route.ExpertsPerBlock[b])
                {
                    if (_usage[b].Length <= e) { var grown = _usage[b]; Array.Resize(ref grown, e + 1); _usage[b] = grown; }
                    _usage[b][e]++;
                }
            }
        }
    }

    public RouteSummary? Summarise()
    {
        lock (_gate)
            return _frames == 0 ? null
                : new RouteSummary(_frames, _sum / _frames, _min, _max, _usage.Select(u => u.ToArray()).ToList());
    }
}
