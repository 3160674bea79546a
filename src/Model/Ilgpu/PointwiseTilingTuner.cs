using System.Diagnostics;
using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Chooses the tiled GEMM's tile shape for a geometry by timing the candidates on the device, as plans are
/// built (cuDNN's algorithm search, for the engine's own GEMM). The rule (<see cref="PointwiseConvolutionKernel.ChooseTiling"/>)
/// gives one 64 × 64 tile shape from 33 out channels up, which leaves a GPU mostly idle where a layer has few tiles
/// (batch 1 at 16 × 16 or 32 × 32 pixels: 8 to 48 groups for 132 multiprocessors) and wastes rows where the out
/// channels are not a multiple of 64 (80: a quarter of the second tile). Each candidate runs with the split-K the rule
/// gives its tiles, on scratch memory of the layer's sizes, captured as a CUDA graph of back-to-back launches; the
/// fastest is kept per geometry. Tile shapes change only which thread sums which output, not the order of a sum, so
/// the outputs are those of the rule's tiles wherever both leave the reduction unsplit.</summary>
internal sealed class PointwiseTilingTuner(KernelLibrary kernels)
{
    /// <summary>Set to 0 to plan with the rule's tiles only (to compare).</summary>
    public const string Switch = "MOEDETECT_ILGPU_TUNE";

    /// <summary>Layers whose scratch would need more than this many floats (1 GB), or an eighth of the device's memory,
    /// keep the rule's tiles.</summary>
    private const long MaxScratchFloats = 256L << 20;

    /// <summary>Each sample runs about this much device work (launches repeated up to <see cref="MaxRepeats"/>).</summary>
    private const double SampleMs = 0.3;
    private const int MaxRepeats = 10, Samples = 3;

    private static readonly PointwiseTiling[] Shapes =
        [PointwiseTiling.Square, new(32, 8), new(16, 8), new(8, 16), new(8, 8), new(64, 4), new(64, 2), new(64, 1)];

    private readonly Dictionary<PointwiseGeometry, PointwiseGeometry> _chosen = new();

    /// <summary>Geometries timed so far (each new one once; repeats come from the cache).</summary>
    public int Timed { get; private set; }

    /// <summary>The tuner for an engine on <paramref name="kernels"/>' device: on CUDA unless <see cref="Switch"/> is 0;
    /// none on the CPU accelerator, whose timings say nothing about a GPU.</summary>
    public static PointwiseTilingTuner? ForDevice(KernelLibrary kernels) =>
        kernels.Accelerator is CudaAccelerator && Environment.GetEnvironmentVariable(Switch) != "0" ? new PointwiseTilingTuner(kernels) : null;

    /// <summary>The tile shapes worth timing for g: the rule's, and the fixed shapes whose tiles are not more than
    /// twice as tall as the out channels need.</summary>
    public static IReadOnlyList<PointwiseTiling> Candidates(PointwiseGeometry g, PointwiseTiling rule)
    {
        int tallest = Math.Max(Micro4x4.Size, (int)BitOperations.RoundUpToPowerOf2((uint)g.OutChannels));
        return Shapes.Where(s => s.TileChannels <= tallest).Prepend(rule).Distinct().ToList();
    }

    /// <summary>g planned with the fastest candidate tiles (and their split-K).</summary>
    public PointwiseGeometry Choose(PointwiseGeometry g, PointwiseTiling rule)
    {
        var key = g with { Tiling = default, Slices = 0, SliceChannels = 0, OutImageStride = 0 };
        if (_chosen.TryGetValue(key, out var known)) return known with { OutImageStride = g.OutImageStride };
        var plans = Candidates(g, rule).Select(t => kernels.PlanPointwise(g, tensorCores: false, t)).ToList();
        var chosen = plans.Count == 1 ? plans[0] : Fastest(plans);
        _chosen[key] = chosen;
        return chosen;
    }

    private PointwiseGeometry Fastest(List<PointwiseGeometry> plans)
    {
        var first = plans[0];
        long input = first.Windowed == 1 ? (long)first.Batch * first.Window.Channels * first.Window.Height * first.Window.Width : (long)first.Batch * first.Channels * first.Pixels;
        long output = (long)first.Batch * first.OutChannels * first.Pixels;
        long partials = plans.Max(p => p.Slices > 1 ? p.Slices * output : 0);
        long weights = (long)first.OutChannels * first.Channels, scale = (long)first.Batch * first.Channels;
        long[] lengths = [input, output, weights, scale, first.OutChannels, Math.Max(1, partials)];
        long total = lengths.Sum();
        if (total > Math.Min(MaxScratchFloats, kernels.Accelerator.MemorySize / sizeof(float) / 8)) return first;
        Timed++;
        using var scratch = DeviceMemory.Allocate(kernels.Accelerator, total, "tile tuning");
        scratch.View.MemSetToZero(kernels.Stream);
        var views = new ArrayView<float>[lengths.Length];
        long at = 0;
        for (int i = 0; i < lengths.Length; at += lengths[i], i++) views[i] = scratch.View.SubView(at, lengths[i]);
        var (x, y, w, s, bias, split) = (views[0], views[1], views[2], views[3], views[4], views[5]);
        // The residual, where the layer adds one, is read from y itself: the same traffic, and only the time counts.
        return plans.MinBy(p => Ms(() => kernels.PointwiseConvolution(x, s, w, bias, y, split, y, p, Activation.None, tensorCores: false)));
    }

    /// <summary>Device ms of one launch: the best of <see cref="Samples"/> replays of a CUDA graph of back-to-back
    /// launches (plain launches where graphs are not available), after a warm-up run.</summary>
    private double Ms(Action launch)
    {
        var stream = kernels.Stream;
        launch();
        stream.Synchronize();
        long start = Stopwatch.GetTimestamp();
        launch();
        stream.Synchronize();
        double once = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        int repeats = Math.Clamp((int)(SampleMs / Math.Max(once, 1e-3)), 1, MaxRepeats);
        var launches = Enumerable.Repeat(launch, repeats).ToList();
        using var graph = stream is CudaStream cuda ? TryCapture(cuda, launches) : null;
        double best = double.MaxValue;
        for (int i = 0; i < Samples; i++)
        {
            start = Stopwatch.GetTimestamp();
            if (graph is not null) graph.Launch();
            else launches.ForEach(l => l());
            stream.Synchronize();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalMilliseconds / repeats);
        }
        return best;
    }

    private static CudaGraph? TryCapture(CudaStream stream, List<Action> launches)
    {
        try
        {
            return CudaGraph.Capture(stream, launches);
        }
        catch (Exception e) when (e is CudaGraphException or CudaException or DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }
}
