using MoeDetect.Model.Engines;

namespace MoeDetect.Pipeline.Inference;

/// <summary>Summary of the routes MoE models took: compute per frame and how often each expert of each block
/// was chosen.</summary>
public sealed record RouteSummary(long Frames, double MeanGflops, double MinGflops, double MaxGflops, IReadOnlyList<long[]> ExpertUsage,
    double FlipRate);

/// <summary>Accumulates frame routes (thread-safe). The flip rate is the share of consecutive frames of one source
/// whose route differs in any block: what video hysteresis is meant to keep low.</summary>
public sealed class RouteStatistics
{
    private readonly object _gate = new();
    private readonly List<long[]> _usage = [];
    private long _frames;
    private readonly Dictionary<string, FrameRoute> _previousBySource = [];
    private long _pairs, _flips;
    private double _sum, _min = double.MaxValue, _max;

    public void Add(string source, FrameRoute route)
    {
        lock (_gate)
        {
            if (_previousBySource.TryGetValue(source, out var previous))
            {
                _pairs++;
                if (!previous.ExpertsPerBlock.Zip(route.ExpertsPerBlock).All(b => b.First.SequenceEqual(b.Second))) _flips++;
            }
            _previousBySource[source] = route;
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
                : new RouteSummary(_frames, _sum / _frames, _min, _max, _usage.Select(u => u.ToArray()).ToList(),
                    _pairs == 0 ? 0 : (double)_flips / _pairs);
    }
}
