using System.Diagnostics;
using System.Text.Json;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tools.IlgpuBench;

/// <summary><c>ilgpu-bench profile &lt;model.onnx&gt; &lt;out-dir&gt; [--batches 1,32] [--iterations 20] [--cpu-accelerator]</c>:
/// for each batch, the whole plan's run (median, network only: input written once, outputs left on the device) and
/// then every kernel launch of the plan timed alone, summed per kind (operator, and the convolution kernel path).
/// The gap between the sum and the whole run is what launching costs beyond the kernels themselves. Prints a summary
/// line per batch and writes profile_b&lt;B&gt;.json with every step.</summary>
internal static class ProfileBench
{
    public static void Run(string modelPath, string outDir, IlgpuTarget target, int[] batches, int iterations)
    {
        Directory.CreateDirectory(outDir);
        var model = File.ReadAllBytes(modelPath);
        using var engine = IlgpuEngine.Load(model, modelPath, target);
        foreach (int batch in batches)
        {
            double wholeMs = engine.TimeEnqueued(batch, iterations);
            var steps = engine.Profile(batch, iterations);
            double stepsMs = steps.Sum(s => s.Ms);
            var byKind = steps.GroupBy(s => s.Kind)
                .Select(g => new { kind = g.Key, launches = g.Count(), ms = g.Sum(s => s.Ms) })
                .OrderByDescending(k => k.ms).ToList();
            var summary = new
            {
                batch, whole_run_ms = wholeMs, launches = steps.Count, sum_of_launches_ms = stepsMs,
                by_kind = byKind, slowest = steps.OrderByDescending(s => s.Ms).Take(25).ToList(),
            };
            Console.WriteLine(JsonSerializer.Serialize(summary));
            File.WriteAllText(Path.Combine(outDir, $"profile_b{batch}.json"),
                JsonSerializer.Serialize(new { summary, steps }, new JsonSerializerOptions { WriteIndented = true }));
        }
    }
}
