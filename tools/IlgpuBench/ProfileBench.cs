using System.Diagnostics;
using System.Text.Json;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Ilgpu.Moe;
using MoeDetect.Model.Loading;
using MoeDetect.Model.Moe;

namespace MoeDetect.Tools.IlgpuBench;

/// <summary><c>ilgpu-bench profile &lt;model.onnx|model.moedet&gt; &lt;out-dir&gt; [--batches 1,32] [--iterations 20]
/// [--cpu-accelerator] [--outputs a,b | --as-product]</c> (.onnx only: <c>--outputs</c> computes only those graph outputs,
/// e.g. CenterNet's <c>detections</c>; <c>--as-product</c> the graph `moedetect --engine ilgpu` runs, its decoder's
/// outputs with the candidate selection of dense-output heads (<see cref="ModelLoader.IlgpuGraph"/>: YOLO's top 1,000 anchors);
/// by default every output):
/// for each batch, the whole plan's run (median, network only: input written once, outputs left on the device) and
/// then every kernel launch of the plan timed alone, summed per kind (operator, and the convolution kernel path).
/// The gap between the sum and the whole run is what launching costs beyond the kernels themselves. Convolutions carry
/// their arithmetic, so the summary gives achieved TFLOP/s per kind, of the convolutions together and of the whole run
/// (counting the convolutions' FLOPs: nearly all of a convolutional detector's), with the fraction of the H100's FP32 and FP16 tensor-core peaks.
/// A model file (.moedet) runs through the routed engine on random frames (the routes are whatever its routers make
/// of them): the whole run is its inference (median, with its route and experts device time and the rest of the net),
/// and every plan the runs built (segments, routers, experts at each run batch) is profiled, summed per piece too.
/// Prints a summary line per batch and writes profile_b&lt;B&gt;.json with every step.</summary>
internal static class ProfileBench
{
    public static void Run(string modelPath, string outDir, IlgpuTarget target, int[] batches, int iterations, IReadOnlyList<string>? outputs,
        bool asProduct)
    {
        Directory.CreateDirectory(outDir);
        if (modelPath.EndsWith(".moedet", StringComparison.OrdinalIgnoreCase))
        {
            RunRouted(modelPath, outDir, target, batches, iterations);
            return;
        }
        var model = File.ReadAllBytes(modelPath);
        if (asProduct)
        {
            var (graph, _, _, decoder) = ModelLoader.IlgpuGraph(model, modelPath);
            (model, outputs) = (graph, decoder.OutputNames);
        }
        using var engine = IlgpuEngine.Load(model, modelPath, target, outputNames: outputs);
        foreach (int batch in batches)
        {
            double wholeMs = engine.TimeEnqueued(batch, iterations);
            // After the timed runs, which recorded the plan's CUDA graph: its programmatic edges are known.
            string plan = engine.Summary(batch).ToString();
            var steps = engine.Profile(batch, iterations);
            var summary = Summary(batch, wholeMs, steps);
            Write(outDir, batch, new { summary, plan }, new { summary, plan, steps });
        }
    }

    private static void RunRouted(string modelPath, string outDir, IlgpuTarget target, int[] batches, int iterations)
    {
        var file = MoeModelFile.Open(modelPath);
        int[] itemShape = MoeModelLoader.ItemShape(MoeModelLoader.Input(file));
        foreach (int batch in batches)
        {
            // An engine per batch, so that the plans profiled are the ones this batch's runs built.
            using var engine = MoeIlgpuEngine.Load(file, new EngineRequest(Warn: Console.Error.WriteLine), itemShape, target, batch);
            var random = new Random(batch);
            var input = new float[batch * itemShape.Aggregate(1, (a, b) => a * b)];
            for (int i = 0; i < input.Length; i++) input[i] = (float)random.NextDouble();
            // Timings and routes only: the downloaded outputs of every run need not stay in memory.
            var runs = Enumerable.Range(0, 3 + iterations).Select(_ => engine.Run(input, batch)).Skip(3)
                .Select(o => (o.Timings, Routes: o.Routes!)).OrderBy(r => r.Timings.InferenceMs).ToList();
            var (t, routes) = runs[runs.Count / 2];
            var pieces = engine.ProfilePlans(iterations);
            var routed = new
            {
                route_ms = t.RouteMs, experts_ms = t.ExpertsMs, rest_of_net_ms = t.RestOfNetMs,
                experts_chosen = ExpertUsage(routes),
                by_piece = pieces.Select(p => new { piece = p.Piece, input_shapes = p.InputShapes, launches = p.Steps.Count, ms = p.Steps.Sum(s => s.Ms) }),
            };
            var summary = Summary(batch, t.InferenceMs, pieces.SelectMany(p => p.Steps).ToList());
            Write(outDir, batch, new { summary, routed }, new { summary, routed, pieces });
        }
    }

    /// <summary>Per MoE block, how many of the batch's frames ran each expert.</summary>
    private static List<Dictionary<int, int>> ExpertUsage(IReadOnlyList<FrameRoute> routes) =>
        Enumerable.Range(0, routes[0].ExpertsPerBlock.Count)
            .Select(block => routes.SelectMany(r => r.ExpertsPerBlock[block]).GroupBy(e => e).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()))
            .ToList();

    private static object Summary(int batch, double wholeMs, List<StepTime> steps)
    {
        var byKind = steps.GroupBy(s => s.Kind)
            .Select(g => new { kind = g.Key, launches = g.Count(), ms = g.Sum(s => s.Ms), tflops = Tflops(g.Sum(s => s.Flops), g.Sum(s => s.Ms)) })
            .OrderByDescending(k => k.ms).ToList();
        double flops = steps.Sum(s => s.Flops), convolutionMs = steps.Where(s => s.Flops > 0).Sum(s => s.Ms);
        return new
        {
            batch, whole_run_ms = wholeMs, launches = steps.Count, sum_of_launches_ms = steps.Sum(s => s.Ms), gflops = flops / 1e9,
            whole_run_tflops = Tflops(flops, wholeMs), convolutions_tflops = Tflops(flops, convolutionMs),
            whole_run_fraction_of_fp32_peak = Tflops(flops, wholeMs) / GpuPeak.H100Sxm.Fp32Tflops,
            whole_run_fraction_of_tensor_core_peak = Tflops(flops, wholeMs) / GpuPeak.H100Sxm.Fp16TensorCoreTflops,
            by_kind = byKind, slowest = steps.OrderByDescending(s => s.Ms).Take(25).ToList(),
        };
    }

    /// <summary>Prints the summary line and writes <paramref name="everything"/> (it with every step) to profile_b&lt;B&gt;.json.</summary>
    private static void Write(string outDir, int batch, object line, object everything)
    {
        Console.WriteLine(JsonSerializer.Serialize(line));
        File.WriteAllText(Path.Combine(outDir, $"profile_b{batch}.json"), JsonSerializer.Serialize(everything, new JsonSerializerOptions { WriteIndented = true }));
    }

    private static double? Tflops(double flops, double ms) => flops > 0 ? GpuPeak.Tflops(flops, ms) : null;
}
