using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;
using TensorCoreLaunch = System.Action<ILGPU.KernelConfig, long, long, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, MoeDetect.Kernels.Tensors.PointwiseGeometry, MoeDetect.Kernels.Tensors.Activation>;

namespace MoeDetect.Model.Ilgpu;

/// <summary>The explicitly grouped kernels (shared memory, barriers) and their launch shapes. Group sizes adapt to the
/// accelerator: 256 threads on a GPU, whatever the CPU accelerator allows in the tests.</summary>
internal sealed partial class KernelLibrary
{
    private Action<Index1D, ArrayView<int>, TopKShape>? _topKClear;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, TopKShape, int>? _topKHistogram;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, TopKShape>? _topKCount, _topKCompact, _filterHistogram, _filterAppend;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, TopKShape>? _topKSort;
    private Action<KernelConfig, ArrayView<int>, TopKShape>? _filterPickBin;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, TopKShape>? _topKInGroup;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry, Activation, SpecializedValue<PointwiseTiling>, SpecializedValue<FusedFunction>>? _pointwise;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry, Activation>? _pointwiseSum;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry>? _scaleWeights;
    private readonly Dictionary<(bool Wide, TensorCoreKernel Kernel, UnaryFunction Function), TensorCoreLaunch> _tensorCores = [];
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation, SpecializedValue<DepthwiseWindow>, SpecializedValue<FusedFunction>>? _depthwise;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation, SpecializedValue<DepthwiseRowsWindow>, SpecializedValue<FusedFunction>>? _depthwiseRows;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry, Activation>? _pointwiseWarp;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DepthwiseTiling, Activation>? _depthwiseTiled;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, ImageStrides, Activation>? _stagedWeights;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, ReduceMode>? _reduce;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, ReduceMode>? _reduceGrouped;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, WindowGeometry>? _peaksChannelsLast;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, SqueezeShape, Activation, Activation>? _squeeze;

    /// <summary>When set, every convolution planned with this library adds its geometry (for the kernel benchmark).</summary>
    public List<WindowGeometry>? PlannedConvolutions { get; set; }

    /// <summary>Threads per group for the 1-D grouped kernels.</summary>
    private int GroupSize => Math.Min(TopKKernels.MaxGroupSize, accelerator.MaxNumThreadsPerGroup);

    /// <summary>Whether the device can run the tensor-core GEMM: CUDA, compute capability 8.0 or later.</summary>
    public bool HasTensorCores => accelerator is ILGPU.Runtime.Cuda.CudaAccelerator cuda && cuda.Architecture is { Major: >= 8 };

    /// <summary>Whether a top-k of shape s runs in one launch (<see cref="TopKKernels.SelectInGroup"/>), with no scratch.</summary>
    public static bool SelectsInOneGroup(TopKShape s) => s.Length <= TopKKernels.GroupRowLength;

    /// <summary>Top-k of x viewed as [outer, length, inner] into values and indices, no synchronisation: rows of at most
    /// <see cref="TopKKernels.GroupRowLength"/> in one launch, a group each (<see cref="SelectsInOneGroup"/>); longer
    /// ones in 11 (<see cref="TopKKernels"/>): the filter's 3 (<see cref="TopKFilter"/>), the radix select's 6 for rows
    /// the filter left, the sort. <paramref name="scratch"/> holds <see cref="TopKShape.ScratchPerRow"/> ints per row
    /// for those (any view for short rows).</summary>
    public void TopK(ArrayView<float> x, ArrayView<int> scratch, ArrayView<float> values, ArrayView<float> indices, TopKShape s)
    {
        if (SelectsInOneGroup(s))
        {
            _topKInGroup ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, TopKShape>>(TopKKernels.SelectInGroup));
            int threads = Math.Min(TopKKernels.RowGroupSize, accelerator.MaxNumThreadsPerGroup);
            _topKInGroup(new KernelConfig(new Index2D(1, s.Rows), new Index2D(threads, 1)), x, values, indices, s);
            return;
        }
        _topKClear ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<int>, TopKShape>>(TopKKernels.Clear));
        _topKHistogram ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<int>, TopKShape, int>>(TopKKernels.Histogram));
        _topKCount ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<int>, TopKShape>>(TopKKernels.CountChunks));
        _topKCompact ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<int>, TopKShape>>(TopKKernels.Compact));
        _topKSort ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, TopKShape>>(TopKKernels.Sort));
        _filterHistogram ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<int>, TopKShape>>(TopKFilter.Histogram));
        _filterPickBin ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<int>, TopKShape>>(TopKFilter.PickBin));
        _filterAppend ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<int>, TopKShape>>(TopKFilter.Append));
        var chunks = new KernelConfig(new Index2D(s.Chunks, s.Rows), new Index2D(GroupSize, 1));
        var groupPerRow = new KernelConfig(new Index2D(1, s.Rows), new Index2D(GroupSize, 1));
        _topKClear(s.Rows * s.ScratchPerRow, scratch, s);
        _filterHistogram(chunks, x, scratch, s);
        _filterPickBin(groupPerRow, scratch, s);
        _filterAppend(chunks, x, scratch, s);
        for (int pass = 0; pass < 4; pass++) _topKHistogram(chunks, x, scratch, s, pass);
        _topKCount(chunks, x, scratch, s);
        _topKCompact(chunks, x, scratch, s);
        _topKSort(groupPerRow, x, scratch, values, indices, s);
    }

    /// <summary>CenterNet's peak test of the NCHW x written NHWC into y (<see cref="PoolingKernels.PeaksChannelsLast"/>):
    /// 32 × 8 threads a group on a GPU, as many as the device's groups hold on the CPU accelerator.</summary>
    public void PeaksChannelsLast(ArrayView<float> x, ArrayView<float> y, WindowGeometry g)
    {
        _peaksChannelsLast ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, WindowGeometry>>(PoolingKernels.PeaksChannelsLast));
        int side = Math.Min(PoolingKernels.PeakTileSide, accelerator.MaxNumThreadsPerGroup);
        int rows = Math.Clamp(accelerator.MaxNumThreadsPerGroup / side, 1, 8);
        int tiles = (g.Width + side - 1) / side * ((g.Channels + side - 1) / side);
        _peaksChannelsLast(new KernelConfig(new Index2D(tiles, g.Batch * g.Height), new Index2D(side, rows)), x, y, g);
    }

    /// <summary>Multiprocessors the split-K rule plans for: the GPU's own; on the CPU accelerator an H100's, so that the
    /// tests run the splits that GPU gets whatever this machine's cores.</summary>
    private int Multiprocessors => accelerator is ILGPU.Runtime.Cuda.CudaAccelerator ? accelerator.NumMultiprocessors : H100Multiprocessors;

    private const int H100Multiprocessors = 132;

    /// <summary>Times the candidate launches of each new GEMM and depthwise geometry as plans are built
    /// (<see cref="LaunchTuner"/>); null: the rules' choices.</summary>
    public LaunchTuner? Tuner { get; set; }

    /// <summary>The kernel a plan runs the convolution g on: <see cref="ConvolutionPaths.Of"/>, except that the
    /// <see cref="Tuner"/> picks among the depthwise kernels that take g, and among the direct kernels for short
    /// reductions and the GEMM where the rule gives the blocked kernel or, for a layer without an input scale
    /// (<paramref name="scalesInput"/>: the pointwise GEMM applies it), the pointwise GEMM
    /// (<see cref="LaunchTuner.ShortReduction"/>).</summary>
    public ConvolutionPath PlanPath(WindowGeometry g, bool scalesInput = false)
    {
        var path = ConvolutionPaths.Of(g);
        if (Tuner is null) return path;
        if (ConvolutionPaths.IsDepthwise(path) && LaunchTuner.DepthwiseCandidates(g).Count > 1) return Tuner.Depthwise(g);
        bool choice = path == ConvolutionPath.Blocked || (path == ConvolutionPath.Pointwise && !scalesInput && LaunchTuner.ShortReductionCandidates(g).Count > 1);
        return choice ? Tuner.ShortReduction(g) : path;
    }

    /// <summary>g as <see cref="PointwiseConvolution"/> runs it: the tiled SIMT GEMM's tile shape for its geometry
    /// (<see cref="PointwiseConvolutionKernel.ChooseTiling"/>, or the <see cref="Tuner"/>'s fastest, which may be the
    /// tensor-core GEMM), then split-K slices where those tiles would leave the device idle
    /// (<see cref="PointwiseConvolutionKernel.SplitK"/>). Plans size the partials with its
    /// <see cref="PointwiseGeometry.Slices"/>. <paramref name="tiling"/>, where given, replaces the rule's tiles (the
    /// kernel benchmark's fixed ones, the tuner's candidates).</summary>
    public PointwiseGeometry PlanPointwise(PointwiseGeometry g, PointwiseTiling? tiling = null)
    {
        if (g.Pixels <= PointwiseWarpKernel.MaxPixels) return g;
        if (tiling is null)
        {
            var rule = PointwiseConvolutionKernel.ChooseTiling(g, Multiprocessors);
            if (Tuner is not null) return Tuner.Pointwise(g, rule);
            if (PlansEmulatedTensorCores) return EmulatedTensorCorePlan(g);
            tiling = rule;
        }
        return PointwiseConvolutionKernel.SplitK(g with { Tiling = tiling.Value, TensorCores = 0 }, Multiprocessors);
    }

    /// <summary>Set on the CPU accelerator of 32-lane warps (<see cref="IlgpuTarget.CpuAcceleratorEmulatedTensorCores"/>):
    /// <see cref="PlanPointwise"/> gives each GEMM <see cref="EmulatedTensorCorePlan"/>.</summary>
    public bool PlansEmulatedTensorCores { get; set; }

    /// <summary>g on the most specialised tensor-core kernel that takes it (row segments, else FP16 operands, else TF32),
    /// in the wide tile where it is worth timing: so that a test graph's layers reach every kernel.</summary>
    private PointwiseGeometry EmulatedTensorCorePlan(PointwiseGeometry g)
    {
        var kind = new[] { TensorCorePrecision.Fp16RowSegments, TensorCorePrecision.Fp16, TensorCorePrecision.Tf32 }
            .SelectMany(p => TensorCoreTilings(g).Reverse().Select(t => new TensorCoreKind(t, p))).First(k => Takes(k, g));
        return PlanTensorCores(g, kind.Tiling, kind.Precision);
    }

    /// <summary>g planned on tensor cores (<see cref="TensorCoreConvolutionKernel"/>) in <paramref name="tiling"/>, one of
    /// <see cref="TensorCoreTilings"/> (64 × 64 where not given), with the split-K the SIMT GEMM's rule gives those tiles,
    /// tap-major where it fits (<see cref="TensorCoreConvolutionKernel.TapMajorFits"/>: the caller then passes the weights
    /// so, <see cref="TapMajorWeights"/>); the device must have them (<see cref="HasTensorCores"/>).</summary>
    /// <param name="precision">A <see cref="TensorCorePrecision"/>; FP16 only where
    /// <see cref="Fp16TensorCoreConvolutionKernel.Fits"/>.</param>
    public PointwiseGeometry PlanTensorCores(PointwiseGeometry g, PointwiseTiling? tiling = null, int precision = TensorCorePrecision.Tf32)
    {
        bool rowSegments = precision == TensorCorePrecision.Fp16RowSegments;
        var planned = PointwiseConvolutionKernel.SplitK(g with
        {
            Tiling = tiling ?? PointwiseTiling.Square, TensorCores = precision, TapMajor = !rowSegments && TensorCoreConvolutionKernel.TapMajorFits(g) ? 1 : 0,
        }, Multiprocessors);
        return rowSegments ? RowSegmentConvolutionKernel.InWholeSteps(planned) : planned;
    }

    /// <summary>g planned on tensor cores in each of <paramref name="kinds"/> (tile and precision) that takes it (its tile
    /// one of <see cref="TensorCoreTilings"/>, FP16 where the weight rows allow it, row segments where the layer is one
    /// <see cref="RowSegmentConvolutionKernel"/> takes), and where it runs tap-major also
    /// channel-major: the candidates the launch search times (tap-major won on most of YOLOv8n's 3×3
    /// layers, channel-major on some stride-2 ones, docs/results/2026-12-06-h100-stages).</summary>
    public IEnumerable<PointwiseGeometry> TensorCorePlans(PointwiseGeometry g, IEnumerable<TensorCoreKind> kinds) =>
        kinds.Where(k => TensorCoreTilings(g).Contains(k.Tiling) && Takes(k, g))
            .Select(k => PlanTensorCores(g, k.Tiling, k.Precision))
            .SelectMany(p => p.TapMajor != 0 ? new[] { p, p with { TapMajor = 0 } } : [p]);

    /// <summary>Whether the tensor-core GEMM of <paramref name="kind"/> takes g.</summary>
    public static bool Takes(TensorCoreKind kind, PointwiseGeometry g) => kind.Precision switch
    {
        TensorCorePrecision.Fp16 => Fp16TensorCoreConvolutionKernel.Fits(g),
        TensorCorePrecision.Fp16RowSegments => RowSegmentConvolutionKernel.Fits(g) && RowSegmentConvolutionKernel.FitsTile(g, kind.Tiling),
        _ => true,
    };

    /// <summary>Set to 0 to keep plans (and the benches) off the 32 × 128 tensor-core tile, to time it against the 64 × 64
    /// one alone. On the H100 it took every layer of at most 32 out channels it was offered (0.53–0.76× the 64 × 64
    /// tile's time) and YOLOv8n's batch-32 plan from 12.5 to 11.0 ms (docs/results/2026-12-06-h100-wide).</summary>
    public const string WideTileSwitch = "MOEDETECT_ILGPU_WIDE_TILE";

    /// <summary>The tensor-core GEMM's tiles in use: 64 × 64, and 32 × 128 unless <see cref="WideTileSwitch"/> is 0.</summary>
    public static PointwiseTiling[] TensorCoreTiles =>
        Environment.GetEnvironmentVariable(WideTileSwitch) == "0" ? [PointwiseTiling.Square] : [PointwiseTiling.Square, PointwiseTiling.TensorCoreWide];

    /// <summary>The tensor-core tiles worth timing for g: 64 × 64, and 32 × 128 (where in use) where the square tiles'
    /// last row of tiles would be half or more empty: at most 32 out channels, or 80 (96 rows computed instead of 128:
    /// YOLOv8n's class branch), 144, 160.</summary>
    public static IEnumerable<PointwiseTiling> TensorCoreTilings(PointwiseGeometry g) =>
        g.OutChannels % 64 is > 0 and <= 32 ? TensorCoreTiles : [PointwiseTiling.Square];

    /// <summary>Set to 0 to keep plans off the FP16-operand tensor-core GEMM (<see cref="Fp16TensorCoreConvolutionKernel"/>),
    /// TF32 operands only.</summary>
    public const string Fp16Switch = "MOEDETECT_ILGPU_FP16";

    /// <summary>Set to 0 to keep plans off the row-segment GEMM of 3 × 3 layers (<see cref="RowSegmentConvolutionKernel"/>)
    /// alone. On the H100 it took YOLOv8n's batch-32 plan from 6.87 to 6.12 ms (docs/results/2026-12-08-h100-row-segments).</summary>
    public const string RowSegmentSwitch = "MOEDETECT_ILGPU_ROW_SEGMENTS";

    /// <summary>The tensor-core GEMMs in use: each tile (<see cref="TensorCoreTiles"/>) with TF32 operands and, unless
    /// <see cref="Fp16Switch"/> is 0, with FP16 ones, in the general kernel and (unless <see cref="RowSegmentSwitch"/> is
    /// 0) the row-segment one.</summary>
    public static TensorCoreKind[] TensorCoreKinds
    {
        get
        {
            var precisions = new List<int> { TensorCorePrecision.Tf32 };
            if (Environment.GetEnvironmentVariable(Fp16Switch) != "0")
            {
                precisions.Add(TensorCorePrecision.Fp16);
                if (Environment.GetEnvironmentVariable(RowSegmentSwitch) != "0") precisions.Add(TensorCorePrecision.Fp16RowSegments);
            }
            return TensorCoreTiles.SelectMany(t => precisions.Select(p => new TensorCoreKind(t, p))).ToArray();
        }
    }

    /// <summary>1×1 stride-1 ungrouped convolution (or, <see cref="PointwiseGeometry.Windowed"/>, any ungrouped one) as a
    /// GEMM per image: on tensor cores where g was planned so (<see cref="PointwiseGeometry.TensorCores"/>), else the
    /// shared-memory SIMT GEMM; split in <see cref="PointwiseGeometry.Slices"/>, then summed, where g says so. Views a
    /// geometry flag leaves unused may be any.</summary>
    /// <param name="scale">The per-channel input scale where <see cref="PointwiseGeometry.ScalesInput"/> is 1.</param>
    /// <param name="residual">Added to the output where <see cref="PointwiseGeometry.AddsResidual"/> is 1.</param>
    /// <param name="workspace"><see cref="PointwiseGeometry.WorkspaceLength"/> floats: the tensor cores' scaled weights
    /// where g has an input scale, then the split-K partials where g is split.</param>
    public void PointwiseConvolution(ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual,
        ArrayView<float> workspace, ArrayView<float> y, PointwiseGeometry g, Activation activation)
    {
        if (g.Pixels <= PointwiseWarpKernel.MaxPixels)
        {
            _pointwiseWarp ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry, Activation>>(PointwiseWarpKernel.Run));
            int warps = Math.Max(1, Math.Min(8, accelerator.MaxNumThreadsPerGroup / accelerator.WarpSize));
            long values = (long)g.Batch * g.OutChannels * g.Pixels;
            _pointwiseWarp(new KernelConfig(new Index2D((int)((values + warps - 1) / warps), 1), new Index2D(accelerator.WarpSize, warps)), x, scale, w, bias, residual, y, g, activation);
            return;
        }
        bool split = g.Slices > 1;
        // ILGPU refuses a sub-view starting at the view's end: take the partials only where there are some.
        var partials = split ? workspace.SubView(g.ScaledWeightsLength) : workspace;
        if (g.TensorCores != 0)
        {
            if (g.ScalesInput != 0)
            {
                var scaled = workspace.SubView(0, g.ScaledWeightsLength);
                _scaleWeights ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry>>(PointwiseConvolutionKernel.ScaleWeights));
                _scaleWeights(checked((int)g.ScaledWeightsLength), w, scale, scaled, g);
                w = scaled;
            }
            long xAt = x.LoadEffectiveAddressAsPtr(), wAt = w.LoadEffectiveAddressAsPtr();
            bool rowSegments = g.TensorCores == TensorCorePrecision.Fp16RowSegments;
            var chunked = g with
            {
                WeightChunks = CopiesInChunks(wAt, g.Channels) ? 1 : 0,
                // A row-segment layer's input rows are its image rows (Fits: a multiple of 4 values).
                InputChunks = (g.Windowed == 0 || rowSegments) && CopiesInChunks(xAt, g.Pixels) && g.InImageStride % 4 == 0 ? 1 : 0,
            };
            // Its weights are FP16 in its own order: no other kernel reads them, so they must allow its copies.
            if (rowSegments && wAt % 16 != 0)
                throw new InvalidOperationException("the row-segment GEMM's weights must start on a 16-byte boundary");
            var kernel = rowSegments ? (g.Window.StrideX == 2 ? TensorCoreKernel.Fp16RowSegmentsDoubleStride : TensorCoreKernel.Fp16RowSegments)
                : g.TensorCores != TensorCorePrecision.Fp16 || chunked.WeightChunks == 0 ? TensorCoreKernel.Tf32
                : chunked.InputChunks != 0 ? TensorCoreKernel.Fp16ChunkedInputs : TensorCoreKernel.Fp16;
            var tensorCore = TensorCore(g.Tiling, kernel, activation.Function);
            tensorCore(new KernelConfig(g.Tiling.LaunchGrid(g), new Index3D(TensorCoreConvolutionKernel.GroupSize, 1, 1)), xAt, wAt, bias, residual, split ? partials : y, chunked, activation);
        }
        else
        {
            // Not planned (ConvolutionPaths.Launch): the tiles a plan would choose, unsplit unless g says otherwise.
            var tiling = g.Tiling == default ? PointwiseConvolutionKernel.ChooseTiling(g, Multiprocessors) : g.Tiling;
            _pointwise ??= accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry, Activation, SpecializedValue<PointwiseTiling>, SpecializedValue<FusedFunction>>(PointwiseConvolutionKernel.Run);
            // The CPU accelerator may allow fewer threads a group than the GPU's shape: the same 4 × 4 blocks on a smaller
            // group, kept wider than tall (2 × 1 on the engine's CPU device).
            int dx = tiling.GroupX, dy = tiling.GroupY;
            while (dx * dy > accelerator.MaxNumThreadsPerGroup)
                if (dy >= dx) dy /= 2;
                else dx /= 2;
            var launched = tiling with { GroupX = dx, GroupY = dy };
            _pointwise(Stream, new KernelConfig(launched.LaunchGrid(g), new Index3D(dx, dy, 1)), x, scale, w, bias, residual, split ? partials : y, g, activation, SpecializedValue.New(launched), Specialized(activation));
        }
        if (!split) return;
        _pointwiseSum ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry, Activation>>(PointwiseConvolutionKernel.SumSlices));
        _pointwiseSum(g.Batch * g.OutChannels * g.Pixels, partials, bias, residual, y, g, activation);
    }

    /// <summary>The tensor-core GEMM compiled for a tile (the wide one where <paramref name="tiling"/> is it, else the
    /// square), a kernel and a fused activation, on first use.</summary>
    private TensorCoreLaunch TensorCore(PointwiseTiling tiling, TensorCoreKernel kernel, UnaryFunction function)
    {
        bool wide = tiling == PointwiseTiling.TensorCoreWide;
        var key = (wide, kernel, function);
        if (!_tensorCores.TryGetValue(key, out var launch))
            _tensorCores[key] = launch = wide
                ? FusedFunctions.Apply(function, new TensorCoreLoad<WideTensorCoreTile>(this, kernel))
                : FusedFunctions.Apply(function, new TensorCoreLoad<SquareTensorCoreTile>(this, kernel));
        return launch;
    }

    /// <summary>Which tensor-core kernel a launch runs: TF32; FP16 (also where FP16 was planned but the weights' start is
    /// not 16-byte aligned, which the FP16 kernels need: the TF32 one gives the same sums to the operands' rounding); FP16
    /// with its inputs through registers where they can be read 16 bytes at a time; FP16 on row segments, of stride 1 or 2.</summary>
    private enum TensorCoreKernel { Tf32, Fp16, Fp16ChunkedInputs, Fp16RowSegments, Fp16RowSegmentsDoubleStride }

    /// <summary>The activation's function as the value the SIMT GEMM and the depthwise kernels are compiled for.</summary>
    private static SpecializedValue<FusedFunction> Specialized(Activation activation) => SpecializedValue.New(new FusedFunction(activation.Function));

    /// <summary>Loads <see cref="TensorCoreConvolutionKernel.Run{TTile, TFunction, TIsa}"/> (or an FP16 one of
    /// <see cref="Fp16TensorCoreConvolutionKernel"/>, or <see cref="RowSegmentConvolutionKernel"/>) for one tile and fused
    /// function: in PTX on CUDA, emulated on the CPU accelerator (<see cref="EmulatedIsa"/>: the tests, on a CPU device of
    /// 32-thread warps). Their mma operands pass through ILGPU's local slots, which ptxas leaves in memory at the engine's
    /// O1: loaded promoted.</summary>
    private readonly struct TensorCoreLoad<TTile>(KernelLibrary library, TensorCoreKernel which) : IFusedFunctionUse<TensorCoreLaunch> where TTile : struct, ITensorCoreTile
    {
        public TensorCoreLaunch For<TFunction>() where TFunction : struct, IFusedFunction =>
            library.BindConfig(library._loader.Grouped<Action<AcceleratorStream, KernelConfig, long, long, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry, Activation>>(
                library.Accelerator is ILGPU.Runtime.Cuda.CudaAccelerator ? Kernel<TFunction, PtxIsa>() : Kernel<TFunction, EmulatedIsa>(), promoteLocals: true));

        private Action<long, long, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry, Activation> Kernel<TFunction, TIsa>()
            where TFunction : struct, IFusedFunction where TIsa : struct, ITensorCoreIsa => which switch
        {
            TensorCoreKernel.Fp16 => Fp16TensorCoreConvolutionKernel.Run<TTile, TFunction, TIsa>,
            TensorCoreKernel.Fp16ChunkedInputs => Fp16TensorCoreConvolutionKernel.RunChunkedInputs<TTile, TFunction, TIsa>,
            TensorCoreKernel.Fp16RowSegments => RowSegmentConvolutionKernel.Run<TTile, TFunction, TIsa, UnitStride>,
            TensorCoreKernel.Fp16RowSegmentsDoubleStride => RowSegmentConvolutionKernel.Run<TTile, TFunction, TIsa, DoubleStride>,
            _ => TensorCoreConvolutionKernel.Run<TTile, TFunction, TIsa>,
        };
    }

    /// <summary>Rows of <paramref name="rowLength"/> values from <paramref name="address"/> on lie on 16-byte boundaries.</summary>
    private static bool CopiesInChunks(long address, int rowLength) => address % 16 == 0 && rowLength % 4 == 0;

    /// <summary>Reductions over at least this many values get a group per output block.</summary>
    private const int LongReduction = 128;

    /// <summary>x viewed as [outer, reduced, inner] → y [outer, inner]: a thread per output for short reductions into
    /// enough outputs to fill half the device, a group per output block (<see cref="PoolingKernels.ReduceGrouped"/>) for
    /// long ones and for few outputs. YOLOv8's best class score per anchor at batch 1 (80 values into each of 8,400
    /// outputs) left most of an H100 idle with a thread per output, each thread loading its 80 values one after another.</summary>
    public void Reduce(ArrayView<float> x, ArrayView<float> y, int outer, int reduced, int inner, ReduceMode mode)
    {
        int threads = PowerOfTwoGroup(PoolingKernels.ReduceGroupSize);
        bool shortAndWide = reduced < LongReduction && FillsHalfTheResidentThreads((long)outer * inner);
        if (shortAndWide || threads < 4)
        {
            _reduce ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, ReduceMode>>(PoolingKernels.Reduce));
            _reduce(outer * inner, x, y, reduced, inner, mode);
            return;
        }
        _reduceGrouped ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, ReduceMode>>(PoolingKernels.ReduceGrouped));
        int lanes = inner >= 32 && threads >= 128 ? 32 : 1;
        _reduceGrouped(new KernelConfig(outer * ((inner + lanes - 1) / lanes), threads), x, y, reduced, inner, lanes, mode);
    }

    /// <summary>Threads per group of <see cref="SqueezeKernel"/>: a power of two, as many as the accelerator allows.</summary>
    public int SqueezeGroupSize => PowerOfTwoGroup(SqueezeKernel.MaxGroupSize);

    /// <summary>The largest power of two up to <paramref name="most"/> (itself one) that the accelerator allows a group.</summary>
    private int PowerOfTwoGroup(int most)
    {
        int threads = most;
        while (threads > accelerator.MaxNumThreadsPerGroup) threads /= 2;
        return threads;
    }

    /// <summary>A squeeze in one launch (<see cref="SqueezeKernel"/>); <paramref name="s"/>'s lanes and groups per image
    /// must be for <see cref="SqueezeGroupSize"/>.</summary>
    public void Squeeze(ArrayView<float> x, ArrayView<float> parameters, ArrayView<float> y, ArrayView<float> means, ArrayView<int> arrivals,
        SqueezeShape s, Activation hiddenActivation, Activation outputActivation)
    {
        _squeeze ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, SqueezeShape, Activation, Activation>>(SqueezeKernel.Run));
        _squeeze(new KernelConfig(s.Batch * s.GroupsPerImage, SqueezeGroupSize), x, parameters, y, means, arrivals, s, hiddenActivation, outputActivation);
    }

    /// <param name="scale">The per-channel input scale where <see cref="WindowGeometry.ScalesInput"/> is 1 (else any view).</param>
    public void DepthwiseConvolution(ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        WindowGeometry g, Activation activation)
    {
        _depthwise ??= Bind(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation, SpecializedValue<DepthwiseWindow>, SpecializedValue<FusedFunction>>(DepthwiseConvolutionKernel.Run));
        _depthwise(DepthwiseConvolutionKernel.Threads(g), x, scale, w, bias, y, g, activation, SpecializedValue.New(DepthwiseWindow.Of(g)), Specialized(activation));
    }

    /// <summary><see cref="DepthwiseRowsKernel"/> (g must fit: <see cref="DepthwiseRowsKernel.Fits"/>), <paramref name="rows"/>
    /// output rows a thread (<see cref="DepthwiseRowsKernel.RowsFor"/> where not given); same views as
    /// <see cref="DepthwiseConvolution"/>. Where x or y is not 16-byte aligned (a tensor placed inside another at an
    /// odd offset) it runs <see cref="DepthwiseConvolution"/> instead, which gives the same sums.</summary>
    public void DepthwiseRowsConvolution(ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        WindowGeometry g, Activation activation, int? rows = null)
    {
        if (!DeviceMemory.IsAligned(x, 16) || !DeviceMemory.IsAligned(y, 16))
        {
            DepthwiseConvolution(x, scale, w, bias, y, g, activation);
            return;
        }
        int r = rows ?? DepthwiseRowsKernel.RowsFor(g);
        _depthwiseRows ??= Bind(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation, SpecializedValue<DepthwiseRowsWindow>, SpecializedValue<FusedFunction>>(DepthwiseRowsKernel.Run));
        _depthwiseRows(DepthwiseRowsKernel.Threads(g, r), x, scale, w, bias, y, g, activation, SpecializedValue.New(DepthwiseRowsWindow.Of(g, r)), Specialized(activation));
    }

    /// <summary><see cref="DepthwiseTiledKernel"/> (g must fit: <see cref="DepthwiseTiledKernel.Fits"/>); same views as
    /// <see cref="DepthwiseConvolution"/>. A group per tile: 64 to 256 threads, about four outputs each.</summary>
    public void DepthwiseTiledConvolution(ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        WindowGeometry g, Activation activation)
    {
        var t = DepthwiseTiledKernel.Tiling(g);
        _depthwiseTiled ??= _loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DepthwiseTiling, Activation>>(DepthwiseTiledKernel.Run);
        int threads = Math.Min(accelerator.MaxNumThreadsPerGroup, Math.Clamp(t.TileWidth * t.TileHeight / 4, 64, 256));
        var config = new KernelConfig(checked((int)t.Groups), threads, SharedMemoryConfig.RequestDynamic<float>(t.InputRows * t.InputColumns));
        _depthwiseTiled(Stream, config, x, scale, w, bias, y, t, activation);
    }

    /// <summary><see cref="StagedWeightsConvolutionKernel"/> (g must fit: <see cref="StagedWeightsConvolutionKernel.Fits"/>), w in
    /// ONNX's order, images lying as <paramref name="strides"/> says: its shared loads in PTX on CUDA, loaded with the
    /// operand slots promoted as the tensor-core GEMM's, emulated on the CPU accelerator.</summary>
    public void StagedWeightsConvolution(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y,
        WindowGeometry g, ImageStrides strides, Activation activation)
    {
        _stagedWeights ??= BindConfig(_loader.Grouped<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, ImageStrides, Activation>>(
            accelerator is ILGPU.Runtime.Cuda.CudaAccelerator
                ? StagedWeightsConvolutionKernel.Run<PtxIsa>
                : (Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, ImageStrides, Activation>)StagedWeightsConvolutionKernel.Run<EmulatedIsa>,
            promoteLocals: true));
        int threads = Math.Min(StagedWeightsConvolutionKernel.GroupSize, accelerator.MaxNumThreadsPerGroup);
        _stagedWeights(StagedWeightsConvolutionKernel.Launch(g, threads), x, w, bias, residual, y, g, strides, activation);
    }

    private Action<KernelConfig, T1, T2> BindConfig<T1, T2>(Action<AcceleratorStream, KernelConfig, T1, T2> k)
        where T1 : struct where T2 : struct => (c, a, b) => k(Stream, c, a, b);
    private Action<KernelConfig, T1, T2, T3> BindConfig<T1, T2, T3>(Action<AcceleratorStream, KernelConfig, T1, T2, T3> k)
        where T1 : struct where T2 : struct where T3 : struct => (c, a, b, d) => k(Stream, c, a, b, d);
    private Action<KernelConfig, T1, T2, T3, T4> BindConfig<T1, T2, T3, T4>(Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct => (c, a, b, d, e) => k(Stream, c, a, b, d, e);
    private Action<KernelConfig, T1, T2, T3, T4, T5> BindConfig<T1, T2, T3, T4, T5>(Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct => (c, a, b, d, e, f) => k(Stream, c, a, b, d, e, f);
    private Action<KernelConfig, T1, T2, T3, T4, T5, T6> BindConfig<T1, T2, T3, T4, T5, T6>(Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct => (c, a, b, d, e, f, g) => k(Stream, c, a, b, d, e, f, g);
    private Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7> BindConfig<T1, T2, T3, T4, T5, T6, T7>(Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct =>
        (c, a, b, d, e, f, g, h) => k(Stream, c, a, b, d, e, f, g, h);
    private Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8> BindConfig<T1, T2, T3, T4, T5, T6, T7, T8>(Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct =>
        (c, a, b, d, e, f, g, h, i) => k(Stream, c, a, b, d, e, f, g, h, i);
}

/// <summary>A tensor-core GEMM a plan may choose: its tile and its <see cref="TensorCorePrecision"/>.</summary>
internal readonly record struct TensorCoreKind(PointwiseTiling Tiling, int Precision)
{
    public override string ToString() => $"{Tiling.TileChannels}×{Tiling.TilePixels} tiles, {Operands(Precision)}";

    /// <summary>A <see cref="TensorCorePrecision"/> in words.</summary>
    private static string Operands(int precision) => precision switch
    {
        TensorCorePrecision.Fp16 => "FP16 operands",
        TensorCorePrecision.Fp16RowSegments => "FP16 operands on row segments",
        _ => "TF32 operands",
    };
}
