using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace MoeDetect.Model.Ilgpu;

/// <summary>One kernel launch of a plan, on the plan's stream. <paramref name="Kind"/> names what runs (the operator,
/// and for convolutions the kernel path) and <paramref name="Node"/> the graph node it comes from, for profiles;
/// <paramref name="Flops"/> is the step's arithmetic (multiply-adds × 2) where it is a convolution, else 0;
/// <see cref="Memory"/> what it reads and writes, set by the plan's compiler (final once the step's node is compiled).</summary>
internal readonly record struct PlanStep(Action Run, string Kind, string Node, double Flops = 0)
{
    public StepMemory Memory { get; init; } = null!;
}

/// <summary>Device time of one launch step, timed alone (<see cref="StepSequence.Profile"/>), with its arithmetic.</summary>
public readonly record struct StepTime(int Step, string Kind, string Node, double Ms, double Flops);

/// <summary>Runs a plan's launches in order. On CUDA they are recorded into a <see cref="CudaGraph"/> on the plan's
/// second run (the first has loaded every kernel) and replayed from then on. If the driver refuses, one warning and
/// plain launches for good. A graph's launches wait only for those whose memory they share (<see cref="StepDependencies"/>),
/// so independent branches (detection heads, a head beside the backbone) run side by side. MOEDETECT_CUDA_GRAPHS=0 turns
/// graphs off, MOEDETECT_GRAPH_BRANCHES=0 records them in plan order (to compare). A graph holds the addresses its
/// launches read, so each input binding of the plan has a graph of its own.</summary>
internal sealed class StepSequence : IDisposable
{
    private readonly IReadOnlyList<PlanStep> _steps;
    private readonly CudaStream? _stream;
    /// <summary>Per input binding (<see cref="UseBinding"/>), its recorded graph; "" is the plan's own memory.</summary>
    private readonly Dictionary<string, CudaGraph?> _graphs = new() { [""] = null };
    private string _binding = "";
    private readonly Action<string> _warn;
    private bool _plain;
    /// <summary>Whether graphs get branches: unless turned off, and until a driver refuses them (for every plan from then
    /// on: an older driver lacks the calls, and an MoE model has dozens of plans to warn about).</summary>
    private static bool s_branches = Environment.GetEnvironmentVariable("MOEDETECT_GRAPH_BRANCHES") != "0";
    private int _runs;

    public StepSequence(IReadOnlyList<PlanStep> steps, AcceleratorStream stream, Action<string> warn)
    {
        _steps = steps;
        _stream = Environment.GetEnvironmentVariable("MOEDETECT_CUDA_GRAPHS") == "0" ? null : stream as CudaStream;
        _warn = warn;
        Flops = steps.Sum(s => s.Flops);
    }

    public IReadOnlyList<PlanStep> Steps => _steps;

    /// <summary>Kernel launches per run (a replayed graph still runs them all, with one driver call).</summary>
    public int Launches => _steps.Count;
    /// <summary>The arithmetic of a run (<see cref="PlanStep.Flops"/> summed: the convolutions').</summary>
    public double Flops { get; }
    /// <summary>Driver calls per run that start device work: the launches, or one once the graph replays.</summary>
    public int DeviceSubmissions => UsesCudaGraphs ? 1 : _steps.Count;
    public bool UsesCudaGraphs => _graphs[_binding] is not null;
    /// <summary>Edges of the replayed graph that let a kernel start while the one before it ends (<see cref="CudaGraph.ProgrammaticEdges"/>).</summary>
    public int ProgrammaticEdges => _graphs[_binding]?.ProgrammaticEdges ?? 0;

    /// <summary>Which steps wait for which, from where their tensors lie now (an input binding moves them).</summary>
    public StepDependencies Dependencies() => new(_steps.Select(s => s.Memory.Accesses(MemoryAccess.DeviceAddress)).ToList());

    /// <summary>Steps on the longest chain of waits (<see cref="StepDependencies.LongestChain"/>): a graph with branches
    /// runs the rest beside it.</summary>
    public int LongestChain => Dependencies().LongestChain();

    /// <summary>Replays from now on the graph recorded for the binding named <paramref name="key"/> (recorded at its
    /// first run): the plan's inputs now lie elsewhere. A plan sees few bindings (the outputs of the pieces before it).</summary>
    public void UseBinding(string key)
    {
        _graphs.TryAdd(key, null);
        _binding = key;
    }

    public void Run()
    {
        bool capture = _stream is not null && !_plain && _runs++ >= 1;
        if (capture && _graphs[_binding] is null && _steps.Count > 0) _graphs[_binding] = TryCapture();
        if (_graphs[_binding] is { } graph) graph.Launch();
        else foreach (var step in _steps) step.Run();
    }

    /// <summary>Each launch step timed alone, in plan order (<see cref="LaunchTimer"/>), after one whole run. Launches
    /// repeat over the plan's memory as the last run left it, so only the times mean anything, not the values.</summary>
    public List<StepTime> Profile(Action synchronize, int iterations)
    {
        Run();
        synchronize();
        var timer = new LaunchTimer(synchronize, iterations);
        return _steps.Select((step, index) => new StepTime(index, step.Kind, step.Node, timer.Ms(step.Run), step.Flops)).ToList();
    }

    private CudaGraph? TryCapture()
    {
        var launches = _steps.Select(s => s.Run).ToList();
        if (s_branches)
        {
            try
            {
                return CudaGraph.Capture(_stream!, launches, Dependencies().WaitsFor);
            }
            catch (Exception e) when (CudaGraph.Refused(e))
            {
                _warn($"warning: --engine ilgpu: CUDA graph branches refused ({e.Message}); recording launches in plan order");
                s_branches = false;
            }
        }
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
        foreach (var key in _graphs.Keys.ToList())
        {
            _graphs[key]?.Dispose();
            _graphs[key] = null;
        }
    }

    public void Dispose() => DisposeGraphs();
}
