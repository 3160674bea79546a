using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using MoeDetect.Model.Engines;

namespace MoeDetect.Model.Moe;

/// <summary>How one engine runs the pieces of a model file over one batch, on tensors of its own kind (host or
/// device). <see cref="MoeStepWalker"/> drives it and times the router and expert calls, so each call returns with its
/// work finished (an engine with an asynchronous device synchronises before returning).</summary>
internal interface IMoeStepExecutor<TTensor>
{
    /// <summary>Runs a segment on the environment's tensors and adds its outputs to the environment.</summary>
    void RunSegment(ManifestStep step, Dictionary<string, TTensor> env);

    /// <summary>The router's logits for the batch, on the host ([batch × experts], row-major).</summary>
    float[] RouterLogits(ManifestStep step, TTensor x);

    /// <summary>The block output: each chosen expert once over the frames that chose it, router-weighted.</summary>
    TTensor RunChosenExperts(ManifestStep step, TTensor x, ExpertChoice[] choices);
}

/// <summary>The experts one frame runs in one MoE block (first = strongest) and their weights (summing to 1).</summary>
internal readonly record struct ExpertChoice(int[] Experts, double[] Weights)
{
    /// <summary>The expert every frame chose alone, or null when frames differ or mix experts (the fast path:
    /// that expert's output over the whole batch is the block output as it is).</summary>
    public static int? SameSingleExpert(ExpertChoice[] choices) =>
        choices.All(c => c.Experts.Length == 1) && choices.Select(c => c.Experts[0]).Distinct().Count() == 1 ? choices[0].Experts[0] : null;

    /// <summary>The frames (in batch order) that chose <paramref name="expert"/>.</summary>
    public static List<int> FramesOf(ExpertChoice[] choices, int expert) =>
        Enumerable.Range(0, choices.Length).Where(f => choices[f].Experts.Contains(expert)).ToList();

    public float WeightOf(int expert) => (float)Weights[Array.IndexOf(Experts, expert)];
}

/// <summary>Walks a model file's steps over one batch: segments in order; at each MoE block the router runs on the
/// batch, its logits become each frame's experts (<see cref="ExpertSelector"/>), then the chosen experts run. The
/// route and GFLOPs bookkeeping lives here, so every MoE engine reports them the same way.</summary>
internal sealed class MoeStepWalker(MoeManifest manifest, ExpertSelector selector)
{
    /// <summary>The user may override the model's video hysteresis, e.g. 0 to measure how often routes flip without it.</summary>
    public static MoeStepWalker For(MoeManifest manifest, EngineRequest request) => new(manifest,
        new ExpertSelector(request.VideoHysteresis is { } h ? manifest.Routing with { VideoHysteresis = h } : manifest.Routing));

    public (FrameRoute[] Routes, double RouteMs, double ExpertsMs) Walk<TTensor>(IMoeStepExecutor<TTensor> executor,
        Dictionary<string, TTensor> env, int batchSize, IReadOnlyList<string>? streams)
    {
        double routeMs = 0, expertsMs = 0;
        var gflops = new double[batchSize];
        var routes = Enumerable.Range(0, batchSize).Select(_ => new List<int[]>()).ToArray();
        int block = 0;
        foreach (var step in manifest.Steps!)
        {
            if (step.Kind == "segment")
            {
                executor.RunSegment(step, env);
                for (int f = 0; f < batchSize; f++) gflops[f] += step.Gflops;
                continue;
            }
            var x = env[step.Input!];
            var clock = Stopwatch.StartNew();
            var logits = executor.RouterLogits(step, x);
            int experts = step.Experts!.Length;
            var choices = new ExpertChoice[batchSize];
            for (int f = 0; f < batchSize; f++)
            {
                var (chosen, weights) = selector.Select(logits.AsSpan(f * experts, experts), block, streams?[f]);
                choices[f] = new ExpertChoice(chosen, weights);
            }
            routeMs += clock.Elapsed.TotalMilliseconds;

            clock.Restart();
            env[step.Output!] = executor.RunChosenExperts(step, x, choices);
            expertsMs += clock.Elapsed.TotalMilliseconds;
            for (int f = 0; f < batchSize; f++)
            {
                routes[f].Add(choices[f].Experts);
                gflops[f] += step.Router!.Gflops + choices[f].Experts.Sum(e => step.Experts[e].Gflops);
            }
            block++;
        }
        return (Enumerable.Range(0, batchSize).Select(f => new FrameRoute(routes[f], gflops[f])).ToArray(), routeMs, expertsMs);
    }

    /// <summary>The graph entries the steps name (segments, routers, experts), each once.</summary>
    public static IEnumerable<string> GraphEntries(MoeManifest m) => m.Steps!.SelectMany(s => s.Kind == "segment"
        ? [s.Onnx!]
        : new[] { s.Router!.Onnx! }.Concat(s.Experts!.Where(e => e.Onnx is not null).Select(e => e.Onnx!))).Distinct();

    public static int[] Shape(OrtValue value) => value.GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray();

    public static InvalidModelException ShapeMismatch(string path, ManifestStep step, int[] first, int[] other) =>
        new($"'{path}': the experts of step '{step.Name}' give outputs of different shapes " +
            $"([{string.Join(",", first)}] and [{string.Join(",", other)}])");
}
