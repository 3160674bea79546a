using System.Diagnostics;
using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Chooses launches by timing them on the device as plans are built (cuDNN's algorithm search, for the engine's
/// own kernels), once per geometry; the fastest is kept.
/// <list type="bullet">
/// <item>The tiled GEMM's tile shape. The rule (<see cref="PointwiseConvolutionKernel.ChooseTiling"/>) gives one 64 × 64
/// tile shape from 33 out channels up, which leaves a GPU mostly idle where a layer has few tiles (batch 1 at 16 × 16
/// or 32 × 32 pixels: 8 to 48 groups for 132 multiprocessors) and wastes rows where the out channels are not a multiple
/// of 64 (80: a quarter of the second tile). Each candidate runs with the split-K the rule gives its tiles. Tile shapes
/// change only which thread sums which output, not the order of a sum, so the outputs are the rule's wherever both leave
/// the reduction unsplit.</item>
/// <item>Where the device has tensor cores (sm_80 on) and <see cref="TensorCoreSwitch"/> is not 0, whether the GEMM runs
/// on them (<see cref="TensorCoreConvolutionKernel"/>, TF32 operands and FP32 sums, as PyTorch's cuDNN convolutions by
/// default): more candidates, kept where one is the fastest, for every GEMM (those with an input scale timed with the
/// per-image weight scaling they need there): its 64 × 64 tile, and for layers whose last 64-row tile would be at most half full (32, 80 out channels) its 32 × 128 tile unless
/// <see cref="KernelLibrary.WideTileSwitch"/> turns it off (<see cref="KernelLibrary.TensorCoreTilings"/>). On an H200 it
/// made YOLOv8n 0.79× as long at batch 32 and CenterNet 0.91× (docs/results/2026-12-06-h200-tensor-cores). Implicit
/// GEMMs whose channels allow it are timed tap-major and channel-major (<see cref="PointwiseGeometry.TapMajor"/>). Each
/// tile also with FP16 operands (<see cref="Fp16TensorCoreConvolutionKernel"/>) where the weight rows allow it, and for
/// 3 × 3 layers of stride 1 or 2 on row segments (<see cref="RowSegmentConvolutionKernel"/>), unless
/// <see cref="KernelLibrary.Fp16Switch"/> (or, for the row segments alone, <see cref="KernelLibrary.RowSegmentSwitch"/>)
/// is 0.</item>
/// <item>The depthwise kernel: 4 × 1 to 4 × 4 outputs a thread with 16-byte loads (<see cref="DepthwiseRowsKernel"/>, the
/// rule where it fits), four adjacent outputs a thread (<see cref="DepthwiseConvolutionKernel"/>) or, where its window
/// fits, through shared memory (<see cref="DepthwiseTiledKernel"/>).</item>
/// <item>For the short reductions the rule gives the blocked kernel (<see cref="BlockedConvolutionKernel"/>), that
/// kernel, the staged-weights one (<see cref="StagedWeightsConvolutionKernel"/>, where its stage holds the reduction) or
/// the implicit GEMM on its own fastest launch (tensor cores included); for 1 × 1 layers of at most 160 channels
/// without an input scale, the staged-weights kernel or the pointwise GEMM (<see cref="ShortReductionCandidates"/>). The
/// rule for the blocked kernel was set on NanoDet's layers,
/// and YOLOv8n's 16 → 32 stride-2 layer at batch 32 ran 1.32 ms blocked against 0.87 ms as a SIMT implicit GEMM (H200,
/// docs/results/2026-12-06-h200-tensor-cores).</item>
/// </list>
/// Candidates run on scratch memory of the layer's sizes, captured as a CUDA graph of back-to-back launches.</summary>
internal sealed class LaunchTuner(KernelLibrary kernels, Action<string> warn, LaunchChoiceFile? file = null)
{
    /// <summary>Set to 0 to plan with the rules only (to compare).</summary>
    public const string Switch = "MOEDETECT_ILGPU_TUNE";

    /// <summary>Set to 0 to keep every GEMM off tensor cores (FP32 throughout).</summary>
    public const string TensorCoreSwitch = "MOEDETECT_ILGPU_TENSOR_CORES";

    /// <summary>The tensor-core GEMMs (tile, precision) GEMMs may run on: none where the switch forbids them or the device
    /// has none, else those that agree with the FP32 GEMM here (<see cref="TensorCoreCheck"/>, run when the first GEMM is
    /// planned).</summary>
    private readonly Lazy<TensorCoreKind[]> _tensorCoreKinds = new(() => TensorCoreKindsHere(kernels, warn, file));

    /// <summary>Layers whose scratch would need more than this many floats (1 GB), or an eighth of the device's memory,
    /// keep the rule's choice.</summary>
    private const long MaxScratchFloats = 256L << 20;

    /// <summary>Each sample runs about this much device work (launches repeated up to <see cref="MaxRepeats"/>).</summary>
    private const double SampleMs = 0.3;
    private const int MaxRepeats = 10, Samples = 3;

    private static readonly PointwiseTiling[] Shapes =
        [PointwiseTiling.Square, new(32, 8), new(16, 8), new(8, 16), new(8, 8), new(64, 4), new(64, 2), new(64, 1)];

    private readonly Dictionary<PointwiseGeometry, PointwiseGeometry> _gemms = new();
    private readonly Dictionary<WindowGeometry, ConvolutionPath> _depthwise = new(), _shortReductions = new();

    /// <summary>Geometries timed so far (each new one once; repeats come from the caches).</summary>
    public int Timed { get; private set; }

    /// <summary>The tuner for an engine on <paramref name="kernels"/>' device, with the answers earlier processes kept
    /// (<see cref="LaunchChoiceFile"/>): on CUDA unless <see cref="Switch"/> is 0; none on the CPU accelerator, whose
    /// timings say nothing about a GPU.</summary>
    public static LaunchTuner? ForDevice(KernelLibrary kernels, Action<string> warn) =>
        kernels.Accelerator is CudaAccelerator && Environment.GetEnvironmentVariable(Switch) != "0"
            ? new LaunchTuner(kernels, warn, LaunchChoiceFile.ForDevice(kernels.Accelerator, warn)) : null;

    private static TensorCoreKind[] TensorCoreKindsHere(KernelLibrary kernels, Action<string> warn, LaunchChoiceFile? file)
    {
        if (Environment.GetEnvironmentVariable(TensorCoreSwitch) == "0" || !kernels.HasTensorCores) return [];
        TensorCoreKind[] Check(IReadOnlyList<TensorCoreKind> kinds) => kinds.Where(kind =>
        {
            if (TensorCoreCheck.Disagreement(kernels, kind) is not { } disagreement) return true;
            warn($"warning: the ILGPU engine keeps its GEMMs off tensor cores in {kind}: {disagreement}");
            return false;
        }).ToArray();
        // The check compiles and runs every kind; with this GPU and build its outcome is the one kept.
        return file is null ? Check(KernelLibrary.TensorCoreKinds) : file.ChooseSubset("tensor-core check", KernelLibrary.TensorCoreKinds, Check);
    }

    /// <summary>The tile shapes worth timing for g: the rule's, and the fixed shapes whose tiles are not more than
    /// twice as tall as the out channels need.</summary>
    public static IReadOnlyList<PointwiseTiling> Candidates(PointwiseGeometry g, PointwiseTiling rule)
    {
        int tallest = Math.Max(Micro4x4.Size, (int)BitOperations.RoundUpToPowerOf2((uint)g.OutChannels));
        return Shapes.Where(s => s.TileChannels <= tallest).Prepend(rule).Distinct().ToList();
    }

    /// <summary>g planned with the fastest candidate tiles (and their split-K).</summary>
    public PointwiseGeometry Pointwise(PointwiseGeometry g, PointwiseTiling rule)
    {
        var key = g with { Tiling = default, Slices = 0, SliceChannels = 0, OutImageStride = 0, TensorCores = 0 };
        if (!_gemms.TryGetValue(key, out var chosen))
        {
            var plans = Candidates(g, rule).Select(t => kernels.PlanPointwise(g, t)).ToList();
            plans.AddRange(kernels.TensorCorePlans(g, _tensorCoreKinds.Value));
            _gemms[key] = chosen = Choose("gemm", key, plans, FastestGemm);
        }
        return chosen with { OutImageStride = g.OutImageStride };
    }

    /// <summary>The depthwise kernels that take g.</summary>
    public static IReadOnlyList<ConvolutionPath> DepthwiseCandidates(WindowGeometry g)
    {
        var paths = new List<ConvolutionPath> { ConvolutionPath.Depthwise };
        if (DepthwiseRowsKernel.Fits(g)) paths.Add(ConvolutionPath.DepthwiseRows);
        if (DepthwiseTiledKernel.Fits(g)) paths.Add(ConvolutionPath.DepthwiseTiled);
        return paths;
    }

    /// <summary>The fastest depthwise kernel for g (of <see cref="DepthwiseCandidates"/>).</summary>
    public ConvolutionPath Depthwise(WindowGeometry g)
    {
        if (!_depthwise.TryGetValue(g, out var chosen)) _depthwise[g] = chosen = Choose("depthwise", g, DepthwiseCandidates(g), paths => FastestDepthwise(g, paths));
        return chosen;
    }

    private ConvolutionPath FastestDepthwise(WindowGeometry g, IReadOnlyList<ConvolutionPath> paths)
    {
        var scratch = Scratch([(long)g.Batch * g.Channels * g.Height * g.Width, (long)g.Batch * g.Channels * g.OutHeight * g.OutWidth,
            (long)g.Channels * g.KernelHeight * g.KernelWidth, g.Channels, (long)g.Batch * g.Channels]);
        if (scratch is null) return ConvolutionPaths.Of(g);
        using (scratch.Value.Buffer)
        {
            var v = scratch.Value.Views;
            var (x, y, w, bias, scale) = (v[0], v[1], v[2], v[3], v[4]);
            return paths.MinBy(path => Ms(() => ConvolutionPaths.Launch(kernels, path, x, scale, w, bias, y, g, Activation.None)));
        }
    }

    /// <summary>The fastest kernel for g among <see cref="ShortReductionCandidates"/>, the GEMM timed as
    /// <see cref="Pointwise"/> plans it.</summary>
    public ConvolutionPath ShortReduction(WindowGeometry g)
    {
        if (!_shortReductions.TryGetValue(g, out var chosen))
            _shortReductions[g] = chosen = Choose("short reduction", g, ShortReductionCandidates(g), paths => FastestShortReduction(g, paths));
        return chosen;
    }

    /// <summary>Set to 0 to keep convolutions off the staged-weights kernel (<see cref="StagedWeightsConvolutionKernel"/>),
    /// to time plans without it.</summary>
    public const string StagedWeightsSwitch = "MOEDETECT_ILGPU_STAGED_WEIGHTS";

    /// <summary>The kernels timed against each other for g, its GEMM last: where the rule gives the blocked kernel, that
    /// kernel, the staged-weights one and the implicit GEMM; for 1 × 1 layers over enough pixels for the tiled GEMM, the
    /// staged-weights kernel and the pointwise GEMM; the staged-weights one only where its stage holds the reduction
    /// (<see cref="StagedWeightsConvolutionKernel.Fits"/>) and <see cref="StagedWeightsSwitch"/> is not 0.</summary>
    public static IReadOnlyList<ConvolutionPath> ShortReductionCandidates(WindowGeometry g)
    {
        var rule = ConvolutionPaths.Of(g);
        bool staged = StagedWeightsConvolutionKernel.Fits(g) && Environment.GetEnvironmentVariable(StagedWeightsSwitch) != "0"
            && (rule != ConvolutionPath.Pointwise || g.OutHeight * g.OutWidth > PointwiseWarpKernel.MaxPixels);
        return rule switch
        {
            ConvolutionPath.Blocked => staged
                ? [ConvolutionPath.Blocked, ConvolutionPath.StagedWeights, ConvolutionPath.ImplicitGemm]
                : [ConvolutionPath.Blocked, ConvolutionPath.ImplicitGemm],
            ConvolutionPath.Pointwise when staged => [ConvolutionPath.StagedWeights, ConvolutionPath.Pointwise],
            _ => [rule],
        };
    }

    private ConvolutionPath FastestShortReduction(WindowGeometry g, IReadOnlyList<ConvolutionPath> paths)
    {
        var gemmPath = paths[^1];
        var gemm = kernels.PlanPointwise(ConvolutionPaths.Gemm(gemmPath, g));
        long output = (long)g.Batch * g.OutChannels * g.OutHeight * g.OutWidth;
        var scratch = Scratch([(long)g.Batch * g.Channels * g.Height * g.Width, output, (long)g.OutChannels * g.Channels * g.KernelHeight * g.KernelWidth,
            g.OutChannels, gemm.Slices > 1 ? gemm.Slices * output : 0]);
        if (scratch is null) return ConvolutionPaths.Of(g);
        using (scratch.Value.Buffer)
        {
            var (x, y, w, bias, partials) = (scratch.Value.Views[0], scratch.Value.Views[1], scratch.Value.Views[2], scratch.Value.Views[3], scratch.Value.Views[4]);
            return paths.MinBy(path => path == gemmPath
                ? Ms(() => kernels.PointwiseConvolution(x, x, w, bias, y, partials, y, gemm, Activation.None))
                : Ms(() => ConvolutionPaths.Launch(kernels, path, x, x, w, bias, y, g, Activation.None)));
        }
    }

    /// <summary>The candidate the launch choice file names for this question, else <paramref name="fastest"/>'s.</summary>
    private T Choose<T>(string what, object question, IReadOnlyList<T> candidates, Func<IReadOnlyList<T>, T> fastest) =>
        file is null ? fastest(candidates) : file.Choose(what, question, candidates, fastest);

    private PointwiseGeometry FastestGemm(IReadOnlyList<PointwiseGeometry> plans)
    {
        var first = plans[0];
        if (plans.Count == 1) return first;
        long input = first.Windowed == 1 ? (long)first.Batch * first.Window.Channels * first.Window.Height * first.Window.Width : (long)first.Batch * first.Channels * first.Pixels;
        long output = (long)first.Batch * first.OutChannels * first.Pixels;
        var scratch = Scratch([input, output, (long)first.OutChannels * first.Channels, (long)first.Batch * first.Channels, first.OutChannels,
            plans.Max(p => p.WorkspaceLength)]);
        if (scratch is null) return first;
        using (scratch.Value.Buffer)
        {
            var v = scratch.Value.Views;
            var (x, y, w, scale, bias, workspace) = (v[0], v[1], v[2], v[3], v[4], v[5]);
            // The residual, where the layer adds one, is read from y itself: the same traffic, and only the time counts.
            return plans.MinBy(p => Ms(() => kernels.PointwiseConvolution(x, scale, w, bias, y, workspace, y, p, Activation.None)));
        }
    }

    /// <summary>Zeroed device memory cut into views of the given lengths (at least one float each), each starting 16-byte
    /// aligned as a plan's tensors do (the FP16 GEMMs copy 16 bytes at a time only from there), and one more geometry
    /// counted as timed; null where it would pass the scratch limit.</summary>
    private (MemoryBuffer1D<float, Stride1D.Dense> Buffer, ArrayView<float>[] Views)? Scratch(long[] lengths)
    {
        lengths = lengths.Select(l => (Math.Max(1, l) + 3) / 4 * 4).ToArray();
        long total = lengths.Sum();
        if (total > Math.Min(MaxScratchFloats, kernels.Accelerator.MemorySize / sizeof(float) / 8)) return null;
        Timed++;
        var buffer = DeviceMemory.Allocate(kernels.Accelerator, total, "launch tuning");
        buffer.View.MemSetToZero(kernels.Stream);
        var views = new ArrayView<float>[lengths.Length];
        long at = 0;
        for (int i = 0; i < lengths.Length; at += lengths[i], i++) views[i] = buffer.View.SubView(at, lengths[i]);
        return (buffer, views);
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
        catch (Exception e) when (CudaGraph.Refused(e))
        {
            return null;
        }
    }
}
