using System.Diagnostics;
using System.Text.Json;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tools.IlgpuBench;

/// <summary><c>ilgpu-bench profile &lt;model.onnx&gt; &lt;out-dir&gt; [--batches 1,32] [--iterations 20] [--cpu-accelerator]
/// [--outputs a,b]</c> (<c>--outputs</c>: compute only those graph outputs, as the product does for its decoder's, e.g.
/// CenterNet's <c>detections</c>; by default every output):
/// for each batch, the whole plan's run (median, network only: input written once, outputs left on the device) and
/// then every kernel launch of the plan timed alone, summed per kind (operator, and the convolution kernel path).
/// The gap between the sum and the whole run is what launching costs beyond the kernels themselves. Convolutions carry
/// their arithmetic, so the summary gives achieved TFLOP/s per kind, of the convolutions together and of the whole run
/// (counting the convolutions' FLOPs: nearly all of a convolutional detector's), with the fraction of the H100's FP32 and FP16 tensor-core peaks. Prints a summary
/// line per batch and writes profile_b&lt;B&gt;.json with every step.</summary>
internal static class ProfileBench
{
    public static void Run(string modelPath, string outDir, IlgpuTarget target, int[] batches, int iterations, IReadOnlyList<string>? outputs)
    {
        Directory.CreateDirectory(outDir);
        var model = File.ReadAllBytes(modelPath);
        using var engine = IlgpuEngine.Load(model, modelPath, target, outputNames: outputs);
        foreach (int batch in batches)
        {
            double wholeMs = engine.TimeEnqueued(batch, iterations);
            var steps = engine.Profile(batch, iterations);
            double stepsMs = steps.Sum(s => s.Ms);
            var byKind = steps.GroupBy(s => s.Kind)
                .Select(g => new { kind = g.Key, launches = g.Count(), ms = g.Sum(s => s.Ms), tflops = Tflops(g.Sum(s => s.Flops), g.Sum(s => s.Ms)) })
                .OrderByDescending(k => k.ms).ToList();
            double flops = steps.Sum(s => s.Flops), convolutionMs = steps.Where(s => s.Flops > 0).Sum(s => s.Ms);
            var summary = new
            {
                batch, whole_run_ms = wholeMs, launches = steps.Count, sum_of_launches_ms = stepsMs, gflops = flops / 1e9,
                whole_run_tflops = Tflops(flops, wholeMs), convolutions_tflops = Tflops(flops, convolutionMs),
                whole_run_fraction_of_fp32_peak = Tflops(flops, wholeMs) / H100Peaks.Fp32Tflops,
                whole_run_fraction_of_tensor_core_peak = Tflops(flops, wholeMs) / H100Peaks.TensorCoreTflops,
                by_kind = byKind, slowest = steps.OrderByDescending(s => s.Ms).Take(25).ToList(),
            };
            Console.WriteLine(JsonSerializer.Serialize(summary));
            File.WriteAllText(Path.Combine(outDir, $"profile_b{batch}.json"),
                JsonSerializer.Serialize(new { summary, steps }, new JsonSerializerOptions { WriteIndented = true }));
        }
    }

    private static double? Tflops(double flops, double ms) => flops > 0 ? H100Peaks.Tflops(flops, ms) : null;
}
