using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace MoeDetect.Model.Ilgpu;

/// <summary>One step of a plan: a kernel launch on the plan's stream, or work on the host between launches (it may
/// synchronise, download and upload, so it can never be part of a CUDA graph). <paramref name="Kind"/> names what runs
/// (the operator, and for convolutions the kernel path) and <paramref name="Node"/> the graph node it comes from, for
/// profiles; <paramref name="Flops"/> is the step's arithmetic (multiply-adds × 2) where it is a convolution, else 0.</summary>
internal readonly record struct PlanStep(Action Run, bool OnHost, string Kind, string Node, double Flops = 0);

/// <summary>Device time of one launch step, timed alone (<see cref="StepSequence.Profile"/>), with its arithmetic.</summary>
public readonly record struct StepTime(int Step, string Kind, string Node, double Ms, double Flops);

/// <summary>Runs a plan's steps in order. On CUDA each stretch of launches between host steps is recorded into a
/// <see cref="CudaGraph"/> on the plan's second run (the first has loaded every kernel) and replayed from then on.
/// If the driver refuses, one warning and plain launches for good. MOEDETECT_CUDA_GRAPHS=0 turns graphs off (to
/// compare). A graph holds the addresses its launches read, so each input binding of the plan has graphs of its own.</summary>
internal sealed class StepSequence : IDisposable
{
    private readonly List<(List<Action> Launches, Action? ThenOnHost)> _stretches = [];
    private readonly IReadOnlyList<PlanStep> _steps;
    private readonly CudaStream? _stream;
    /// <summary>Per input binding (<see cref="UseBinding"/>), its recorded stretches; "" is the plan's own memory.</summary>
    private readonly Dictionary<string, CudaGraph?[]> _graphSets = [];
    private CudaGraph?[] _graphs;
    private readonly Action<string> _warn;
    private bool _plain;
    private int _runs;

    public StepSequence(IReadOnlyList<PlanStep> steps, AcceleratorStream stream, Action<string> warn)
    {
        _steps = steps;
        var launches = new List<Action>();
        foreach (var step in steps)
        {
            if (!step.OnHost) { launches.Add(step.Run); continue; }
            _stretches.Add((launches, step.Run));
            launches = [];
        }
        _stretches.Add((launches, null));
        _graphs = _graphSets[""] = new CudaGraph?[_stretches.Count];
        _stream = Environment.GetEnvironmentVariable("MOEDETECT_CUDA_GRAPHS") == "0" ? null : stream as CudaStream;
        _warn = warn;
        Launches = steps.Count(s => !s.OnHost);
        Flops = steps.Sum(s => s.Flops);
        HostSteps = steps.Count - Launches;
    }

    /// <summary>Kernel launches per run (a replayed graph still runs them all, with one driver call).</summary>
    public int Launches { get; }
    public int HostSteps { get; }
    /// <summary>The arithmetic of a run (<see cref="PlanStep.Flops"/> summed: the convolutions').</summary>
    public double Flops { get; }
    /// <summary>Driver calls per run that start device work: launches, or one per captured stretch once replaying.</summary>
    public int DeviceSubmissions => _stretches.Select((s, i) => _graphs[i] is not null ? 1 : s.Launches.Count).Sum();
    public bool UsesCudaGraphs => _graphs.Any(g => g is not null);

    /// <summary>Replays from now on the graphs recorded for the binding named <paramref name="key"/> (recorded at its
    /// first run): the plan's inputs now lie elsewhere. A plan sees few bindings (the outputs of the pieces before it).</summary>
    public void UseBinding(string key)
    {
        if (!_graphSets.TryGetValue(key, out var graphs)) _graphSets[key] = graphs = new CudaGraph?[_stretches.Count];
        _graphs = graphs;
    }

    public void Run()
    {
        bool capture = _stream is not null && !_plain && _runs++ >= 1;
        for (int i = 0; i < _stretches.Count; i++)
        {
            var (launches, thenOnHost) = _stretches[i];
            if (capture && _graphs[i] is null && launches.Count > 0) _graphs[i] = TryCapture(launches);
            if (_graphs[i] is { } graph) graph.Launch();
            else foreach (var launch in launches) launch();
            thenOnHost?.Invoke();
        }
    }

    /// <summary>Each launch step timed alone, in plan order (<see cref="LaunchTimer"/>), after one whole run. Host steps
    /// are left out. Launches repeat over the plan's memory as the last run left it, so only the times mean anything,
    /// not the values.</summary>
    public List<StepTime> Profile(Action synchronize, int iterations)
    {
        Run();
        synchronize();
        var timer = new LaunchTimer(synchronize, iterations);
        return _steps.Select((step, index) => (step, index)).Where(s => !s.step.OnHost)
            .Select(s => new StepTime(s.index, s.step.Kind, s.step.Node, timer.Ms(s.step.Run), s.step.Flops)).ToList();
    }

    private CudaGraph? TryCapture(List<Action> launches)
    {
        try
        {
            return CudaGraph.Capture(_stream!, launches);
        }
        // A launch refused during capture (CudaException) ends the capture too (CudaGraph.Capture); run plainly then.
        catch (Exception e) when (CudaGraph.Refused(e))
        {
            _warn($"warning: --engine ilgpu: CUDA graph capture failed ({e.Message}); launching kernels one by one");
            _plain = true;
            DisposeGraphs();
            return null;
        }
    }

    private void DisposeGraphs()
    {
        foreach (var graphs in _graphSets.Values)
            for (int i = 0; i < graphs.Length; i++)
            {
                graphs[i]?.Dispose();
                graphs[i] = null;
            }
    }

    public void Dispose() => DisposeGraphs();
}
