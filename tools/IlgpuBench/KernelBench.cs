using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tools.IlgpuBench;

/// <summary><c>ilgpu-bench kernels &lt;model.onnx&gt; &lt;out-dir&gt; [--batches 1,32] [--iterations 20] [--cpu-accelerator]</c>:
/// 1. self-check: the tensor-core pointwise GEMM against the SIMT one on the same random data (max abs difference,
///    TFLOP/s); 2. every convolution geometry of the model (planned at batch 1; larger batches scale the batch, as a
///    batched plan would) timed on its engine path (pointwise: the plan's tiles and split-K, unsplit too where split, and the fixed 16 × 16-thread,
///    4 × 4-output tiles plans used before, with the speed-up), on the direct kernel and, for GEMM layers (pointwise and implicit), on tensor cores as the launch search would plan them,
///    with each one's max abs difference to the direct kernel (x, w, bias uniform in ±1); 3. device top-k of a CenterNet-sized heatmap (80 × 128 × 128 per image, k = 100) checked against a
///    host sort and timed. Prints one JSON line per measurement and writes them all to kernels.json.
/// With <c>--tensor-cores-only</c>: the check, then each GEMM layer on tensor cores alone (and on the direct kernel, for
/// its difference), one launch configuration per layer: what a kernel profiler (<c>ncu --filter-mode
/// per-launch-config</c>) or an A/B of two builds' tensor-core kernels needs.</summary>
internal static class KernelBench
{

    public static void Run(string modelPath, string outDir, IlgpuTarget target, int[] batches, int iterations, bool tensorCoresOnly)
    {
        Directory.CreateDirectory(outDir);
        var graph = OnnxGraph.Parse(File.ReadAllBytes(modelPath), modelPath);
        GraphFusion.Apply(graph);
        using var device = IlgpuDevice.Open(target);
        var accelerator = device.Accelerator;
        var kernels = new KernelLibrary(accelerator) { PlannedConvolutions = [] };
        using (var constants = new ConstantCache(accelerator))
        using (OperatorCompiler.Build(graph, kernels, constants, [1, .. graph.InputShape[1..]])) { }
        var layers = kernels.PlannedConvolutions.GroupBy(g => g).Select(group => (Geometry: group.Key, Count: group.Count())).ToList();
        var results = new List<object> { new { device = accelerator.Name, tensor_cores = kernels.HasTensorCores, peak_tflops = new { fp16_tensor_core = GpuPeak.H100Sxm.Fp16TensorCoreTflops, tf32_tensor_core = GpuPeak.H100Sxm.Tf32TensorCoreTflops, fp32 = GpuPeak.H100Sxm.Fp32Tflops } } };
        // Fields a layer's path has no value for (tiles of a depthwise layer) are left out; → and × as they are.
        var lineOptions = new JsonSerializerOptions
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        void Report(object line) { results.Add(line); Console.WriteLine(JsonSerializer.Serialize(line, lineOptions)); }
        var timer = new LaunchTimer(accelerator.Synchronize, iterations);

        if (kernels.HasTensorCores)
        {
            foreach (var kind in KernelLibrary.TensorCoreKinds)
                Report(new
                {
                    tensor_core_check = $"{kind}: " +
                        (TensorCoreCheck.Disagreement(kernels, kind) ?? $"agrees with the FP32 GEMM within {TensorCoreCheck.Tolerance} of the largest output"),
                });
            if (!tensorCoresOnly)
                foreach (var g in new[] { Pointwise(1, 160, 960, 16 * 16), Pointwise(1, 40, 120, 64 * 64), Pointwise(8, 72, 24, 128 * 128 + 3), Pointwise(1, 1024, 1024, 64 * 64) })
                    Report(SelfCheck(kernels, timer, g));
        }
        if (tensorCoresOnly)
        {
            if (kernels.HasTensorCores)
                foreach (int batch in batches)
                    foreach (var (layer, count) in layers)
                        if (TimeTensorCores(kernels, timer, layer with { Batch = batch }, count) is { } line) Report(line);
            File.WriteAllText(Path.Combine(outDir, "kernels.json"), JsonSerializer.Serialize(results, new JsonSerializerOptions(lineOptions) { WriteIndented = true }));
            return;
        }

        foreach (int batch in batches)
        {
            var totals = new Dictionary<string, double>();
            foreach (var (layer, count) in layers)
            {
                var g = layer with { Batch = batch };
                var line = TimeLayer(kernels, timer, g, count);
                Report(line);
                totals[line.Path] = totals.GetValueOrDefault(line.Path) + line.Ms * count;
                totals["direct (all layers)"] = totals.GetValueOrDefault("direct (all layers)") + line.DirectMs * count;
                // Layers without tiles (the warp kernel's) count the same on both.
                if (line.Path == "pointwise")
                    totals["pointwise on fixed 16×16 / 4×4 tiles"] = totals.GetValueOrDefault("pointwise on fixed 16×16 / 4×4 tiles") + (line.FixedSquareMs ?? line.Ms) * count;
                if (line.DepthwiseTiledMs is { } tiledMs) totals["depthwise on the tiled kernel"] = totals.GetValueOrDefault("depthwise on the tiled kernel") + tiledMs * count;
                if (line.DepthwiseSpanMs is { } spanMs) totals["depthwise rows layers on the span kernel"] = totals.GetValueOrDefault("depthwise rows layers on the span kernel") + spanMs * count;
                if (line.TensorCoreMs is { } tensorMs) totals["pointwise on tensor cores"] = totals.GetValueOrDefault("pointwise on tensor cores") + tensorMs * count;
            }
            Report(new { batch, conv_ms_total_by_path = totals });
        }
        foreach (int batch in batches) Report(TopK(kernels, timer, batch));
        File.WriteAllText(Path.Combine(outDir, "kernels.json"), JsonSerializer.Serialize(results, new JsonSerializerOptions(lineOptions) { WriteIndented = true }));
    }

    private static WindowGeometry Pointwise(int batch, int channels, int outChannels, int pixels) => new()
    {
        Batch = batch, Channels = channels, OutChannels = outChannels, Height = 1, Width = pixels, OutHeight = 1, OutWidth = pixels,
        KernelHeight = 1, KernelWidth = 1, StrideY = 1, StrideX = 1, DilationY = 1, DilationX = 1, Groups = 1,
    };

    private static object SelfCheck(KernelLibrary kernels, LaunchTimer timer, WindowGeometry g)
    {
        using var data = new LayerData(kernels.Accelerator, g);
        var p = ConvolutionPaths.Pointwise(g);
        var activation = Activation.None;
        double simtMs = timer.Ms(() => kernels.PointwiseConvolution(data.X, data.X, data.W, data.Bias, data.Y, data.Y, data.Y, p, activation));
        var simt = data.Output();
        var tensor = p with { Tiling = PointwiseTiling.Square, TensorCores = 1 };
        double tensorMs = timer.Ms(() => kernels.PointwiseConvolution(data.X, data.X, data.W, data.Bias, data.Y, data.Y, data.Y, tensor, activation));
        var (maxDiff, maxRef) = Compare(data.Output(), simt);
        return new
        {
            self_check = $"pointwise n{g.Batch} c{g.Channels}→{g.OutChannels} pixels {g.Width}",
            max_abs_diff_tensor_core_vs_simt = maxDiff, max_abs_output = maxRef,
            simt_ms = simtMs, simt_tflops = Tflops(p.Flops, simtMs),
            tensor_core_ms = tensorMs, tensor_core_tflops = Tflops(p.Flops, tensorMs),
            tensor_core_fraction_of_tf32_peak = Tflops(p.Flops, tensorMs) / GpuPeak.H100Sxm.Tf32TensorCoreTflops,
        };
    }

    private sealed record LayerLine(string Layer, int Count, string Path, string? Tiling, double Ms, double Tflops, double FractionOfFp32Peak,
        double DirectMs, float MaxAbsDiffVsDirect, int? Slices, double? UnsplitMs, double? FixedSquareMs, double? SpeedupVsFixedSquare,
        float? FixedSquareMaxAbsDiffVsDirect, double? TensorCoreMs, double? TensorCoreFractionOfTf32Peak, float? TensorCoreMaxAbsDiffVsDirect,
        double? ImplicitGemmMs, float? ImplicitGemmMaxAbsDiffVsDirect, double? DepthwiseTiledMs, float? DepthwiseTiledMaxAbsDiffVsDirect,
        double? DepthwiseSpanMs, float? DepthwiseSpanMaxAbsDiffVsDirect);

    /// <summary>One layer on its engine path (FP32; GEMM layers — pointwise, and dense ones as implicit GEMMs — on the
    /// tiles and split-K slices plans choose, also unsplit where split, and on the fixed 16 × 16-thread, 4 × 4-output
    /// tiles plans used before tiles were chosen by layer, split as then), on the direct kernel, for GEMM layers on
    /// tensor cores (64 × 64 tiles, the same split-K), for layers the blocked kernel takes also as a planned implicit GEMM (to set the threshold), and for
    /// depthwise layers also on the other depthwise kernels that take them (those the plan-time tuner picks from: the
    /// shared-memory one where its window fits, the span kernel where the rule gives the 16-byte one).</summary>
    private static LayerLine TimeLayer(KernelLibrary kernels, LaunchTimer timer, WindowGeometry g, int count)
    {
        using var data = new LayerData(kernels.Accelerator, g);
        var activation = Activation.None;
        var path = ConvolutionPaths.Of(g);
        double Time(ConvolutionPath p) =>
            timer.Ms(() => ConvolutionPaths.Launch(kernels, p, data.X, data.X, data.W, data.Bias, data.Y, g, activation));
        double directMs = Time(ConvolutionPath.Direct);
        var direct = data.Output();
        var planned = kernels.PlanPointwise(ConvolutionPaths.Gemm(path, g));
        // The warp kernel's layers (few pixels) have no tiles.
        bool tiled = path is ConvolutionPath.Pointwise or ConvolutionPath.ImplicitGemm && planned.Tiling != default;
        var square = kernels.PlanPointwise(ConvolutionPaths.Gemm(path, g), PointwiseTiling.Square);
        var implicitGemm = path == ConvolutionPath.Blocked ? kernels.PlanPointwise(ConvolutionPaths.ImplicitGemm(g)) : (PointwiseGeometry?)null;
        int slices = Math.Max(tiled ? Math.Max(planned.Slices, square.Slices) : 1, implicitGemm?.Slices ?? 1);
        using var partials = kernels.Accelerator.Allocate1D<float>(slices * (long)g.Batch * g.OutChannels * g.OutHeight * g.OutWidth);
        double Gemm(PointwiseGeometry p) =>
            timer.Ms(() => kernels.PointwiseConvolution(data.X, data.X, data.WeightsFor(p), data.Bias, data.Y, partials.View, data.Y, p, activation));
        double? fixedMs = tiled ? Gemm(square) : null;
        float? fixedDiff = tiled ? Compare(data.Output(), direct).MaxDiff : null;
        bool split = tiled && planned.Slices > 1;
        double? unsplitMs = split ? Time(path) : null;
        double ms = tiled ? Gemm(planned) : Time(path);
        float diff = Compare(data.Output(), direct).MaxDiff;
        double flops = ConvolutionPaths.Flops(g);
        double? tensorMs = null;
        float? tensorDiff = null;
        if (tiled && kernels.HasTensorCores)
        {
            tensorMs = Gemm(kernels.PlanTensorCores(ConvolutionPaths.Gemm(path, g)));
            tensorDiff = Compare(data.Output(), direct).MaxDiff;
        }
        double? implicitMs = implicitGemm is { } implicitPlan ? Gemm(implicitPlan) : null;
        float? implicitDiff = implicitGemm is not null ? Compare(data.Output(), direct).MaxDiff : null;
        bool tiledDepthwise = ConvolutionPaths.IsDepthwise(path) && DepthwiseTiledKernel.Fits(g);
        double? tiledMs = tiledDepthwise ? Time(ConvolutionPath.DepthwiseTiled) : null;
        float? tiledDiff = tiledDepthwise ? Compare(data.Output(), direct).MaxDiff : null;
        bool rows = path == ConvolutionPath.DepthwiseRows;
        double? spanMs = rows ? Time(ConvolutionPath.Depthwise) : null;
        float? spanDiff = rows ? Compare(data.Output(), direct).MaxDiff : null;
        return new LayerLine(
            LayerName(g), count, path.ToString().ToLowerInvariant(), tiled ? planned.Tiling.ToString() : null, ms, Tflops(flops, ms), Tflops(flops, ms) / GpuPeak.H100Sxm.Fp32Tflops,
            directMs, diff, split ? planned.Slices : null, unsplitMs, fixedMs, fixedMs / ms, fixedDiff,
            tensorMs, tensorMs is { } t ? Tflops(flops, t) / GpuPeak.H100Sxm.Tf32TensorCoreTflops : null, tensorDiff, implicitMs, implicitDiff, tiledMs, tiledDiff, spanMs, spanDiff);
    }

    /// <summary>A GEMM layer (pointwise or implicit) on tensor cores in each tile and precision the launch search would
    /// try, and for short reductions and narrow 1 × 1 layers on the direct kernels it would also try (blocked, staged
    /// weights), with each one's difference to the direct kernel; null for layers that are no tiled GEMM.</summary>
    private static object? TimeTensorCores(KernelLibrary kernels, LaunchTimer timer, WindowGeometry g, int count)
    {
        var path = ConvolutionPaths.Of(g);
        if (path is not (ConvolutionPath.Pointwise or ConvolutionPath.ImplicitGemm or ConvolutionPath.Blocked)) return null;
        var gemm = ConvolutionPaths.Gemm(path == ConvolutionPath.Blocked ? ConvolutionPath.ImplicitGemm : path, g);
        if (gemm.Pixels <= PointwiseWarpKernel.MaxPixels) return null;
        using var data = new LayerData(kernels.Accelerator, g);
        ConvolutionPaths.Launch(kernels, ConvolutionPath.Direct, data.X, data.X, data.W, data.Bias, data.Y, g, Activation.None);
        var direct = data.Output();
        var tiles = kernels.TensorCorePlans(gemm, KernelLibrary.TensorCoreKinds).Select(plan =>
        {
            var tiling = plan.Tiling;
            using var partials = kernels.Accelerator.Allocate1D<float>(plan.Slices * (long)g.Batch * g.OutChannels * g.OutHeight * g.OutWidth);
            double ms = timer.Ms(() => kernels.PointwiseConvolution(data.X, data.X, data.WeightsFor(plan), data.Bias, data.Y, partials.View, data.Y, plan, Activation.None));
            double tflops = Tflops(ConvolutionPaths.Flops(g), ms);
            bool fp16 = plan.TensorCores != TensorCorePrecision.Tf32;
            return new
            {
                tiles = $"{tiling.TileChannels}×{tiling.TilePixels}", operands = plan.TensorCores switch
                {
                    TensorCorePrecision.Fp16 => "fp16", TensorCorePrecision.Fp16RowSegments => "fp16 row segments", _ => "tf32",
                }, tap_major = plan.TapMajor != 0, slices = plan.Slices, ms, tflops,
                fraction_of_peak = tflops / (fp16 ? GpuPeak.H100Sxm.Fp16TensorCoreTflops : GpuPeak.H100Sxm.Tf32TensorCoreTflops),
                max_abs_diff_vs_direct = Compare(data.Output(), direct).MaxDiff,
            };
        }).ToList();
        // The direct kernels the launch search also times for short reductions and narrow 1 × 1 layers (LaunchTuner.ShortReduction).
        var others = LaunchTuner.ShortReductionCandidates(g).Where(p => p is not (ConvolutionPath.ImplicitGemm or ConvolutionPath.Pointwise)).ToList();
        var directKernels = others.Count > 0
            ? others.Select(p =>
            {
                double ms = timer.Ms(() => ConvolutionPaths.Launch(kernels, p, data.X, data.X, data.W, data.Bias, data.Y, g, Activation.None));
                return new { kernel = p.ToString().ToLowerInvariant(), ms, tflops = Tflops(ConvolutionPaths.Flops(g), ms), max_abs_diff_vs_direct = Compare(data.Output(), direct).MaxDiff };
            }).ToList()
            : null;
        return new { layer = LayerName(g), count, path = path.ToString().ToLowerInvariant(), tensor_cores = tiles, direct_kernels = directKernels };
    }

    private static string LayerName(WindowGeometry g) =>
        $"n{g.Batch} c{g.Channels}→{g.OutChannels} {g.Height}×{g.Width}→{g.OutHeight}×{g.OutWidth} k{g.KernelHeight}×{g.KernelWidth} s{g.StrideY} groups {g.Groups}";

    private static object TopK(KernelLibrary kernels, LaunchTimer timer, int batch)
    {
        const int length = 80 * 128 * 128, k = 100;
        var s = new TopKShape { Rows = batch, Length = length, Inner = 1, K = k, Largest = 1, Chunks = (length + TopKKernels.ChunkLength - 1) / TopKKernels.ChunkLength };
        // Heatmap-like: mostly exact zeros (suppressed cells), a few thousand peaks on a coarse grid of values (ties).
        var random = new Random(batch);
        var heatmap = new float[batch * length];
        for (int i = 0; i < heatmap.Length; i++) heatmap[i] = random.Next(400) == 0 ? random.Next(1, 200) / 200f : 0f;
        var accelerator = kernels.Accelerator;
        using var x = accelerator.Allocate1D(heatmap);
        using var scratch = accelerator.Allocate1D<int>((long)batch * s.ScratchPerRow);
        using var values = accelerator.Allocate1D<float>(batch * k);
        using var indices = accelerator.Allocate1D<float>(batch * k);
        double ms = timer.Ms(() => kernels.TopK(x.View, scratch.View, values.View, indices.View, s));
        var gotValues = values.GetAsArray1D();
        var gotIndices = indices.GetAsArray1D();
        int mismatches = 0;
        for (int row = 0; row < batch; row++)
        {
            var expected = Enumerable.Range(0, length).OrderByDescending(j => heatmap[row * length + j]).ThenBy(j => j).Take(k).ToArray();
            for (int j = 0; j < k; j++)
                if (gotIndices[row * k + j] != expected[j] || gotValues[row * k + j] != heatmap[row * length + expected[j]]) mismatches++;
        }
        return new { topk = $"batch {batch}, {length} values per image, k {k}", ms, mismatches_vs_host_sort = mismatches };
    }

    private static (float MaxDiff, float MaxRef) Compare(float[] actual, float[] reference)
    {
        float diff = 0, max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(actual[i] - reference[i]));
            max = Math.Max(max, Math.Abs(reference[i]));
        }
        return (diff, max);
    }

    private static double Tflops(double flops, double ms) => GpuPeak.Tflops(flops, ms);

    /// <summary>Random input, weights and bias of one convolution, and its output buffer, on the device.</summary>
    private sealed class LayerData : IDisposable
    {
        private readonly MemoryBuffer1D<float, Stride1D.Dense> _x, _bias, _y;
        private readonly GemmWeightBuffers _w;

        public LayerData(Accelerator accelerator, WindowGeometry g)
        {
            var random = new Random(1);
            float[] Random(long count) => Enumerable.Range(0, (int)count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            _x = accelerator.Allocate1D(Random((long)g.Batch * g.Channels * g.Height * g.Width));
            _w = new GemmWeightBuffers(accelerator, Random((long)g.OutChannels * (g.Channels / g.Groups) * g.KernelHeight * g.KernelWidth), g);
            _bias = accelerator.Allocate1D(Random(g.OutChannels));
            _y = accelerator.Allocate1D<float>((long)g.Batch * g.OutChannels * g.OutHeight * g.OutWidth);
        }

        public ArrayView<float> X => _x.View;
        public ArrayView<float> W => _w.Plain;
        /// <summary>The weights GEMM plan p reads: <see cref="W"/>, reordered where p is tap-major or on row segments.</summary>
        public ArrayView<float> WeightsFor(PointwiseGeometry p) => _w.For(p);
        public ArrayView<float> Bias => _bias.View;
        public ArrayView<float> Y => _y.View;
        public float[] Output() => _y.GetAsArray1D();

        public void Dispose()
        {
            _x.Dispose(); _w.Dispose(); _bias.Dispose(); _y.Dispose();
        }
    }
}
