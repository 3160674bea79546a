using System.Diagnostics;
using MoeDetect.Model.Engines;

namespace MoeDetect.Model.Moe;

/// <summary>Runs an ES-MoE model file on ONNX Runtime, executing ONLY the experts each frame's router chose: the
/// model's segments run in order over a name → tensor environment; at each MoE block the router runs on the whole
/// batch, then each chosen expert runs once over the frames that chose it (grouped), and the block output is the
/// router-weighted sum. Reports each frame's route and the GFLOPs actually executed for it.</summary>
public sealed class MoeOrtEngine : IRoutedEngine
{
    private readonly MoeModelFile _file;
    private readonly ExpertSelector _selector;
    private readonly Dictionary<string, OrtGraphRunner> _graphs = [];
    private readonly string _inputName;
    private readonly int[] _itemShape;

    public MoeOrtEngine(MoeModelFile file, EngineRequest request, int[] itemShape, int maxBatch = 64)
    {
        _file = file;
        _selector = new ExpertSelector(file.Manifest.Routing);
        _inputName = file.Manifest.Input!["name"]!.GetValue<string>();
        _itemShape = itemShape;
        MaxBatch = maxBatch;
        string engineName = "";
        try
        {
            foreach (var entry in GraphEntries(file.Manifest))
            {
                var (session, name) = OrtSessionFactory.Create(file.Graph(entry), $"{file.Path}:{entry}", request);
                _graphs[entry] = new OrtGraphRunner(session);
                engineName = name;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        Name = engineName + "-moe";
    }

    public string Name { get; }
    public int MaxBatch { get; }

    private static IEnumerable<string> GraphEntries(MoeManifest m) => m.Steps!.SelectMany(s => s.Kind == "segment"
        ? [s.Onnx!]
        : new[] { s.Router!.Onnx! }.Concat(s.Experts!.Where(e => e.Onnx is not null).Select(e => e.Onnx!))).Distinct();

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize) => Run(input, batchSize, null);

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize, IReadOnlyList<string>? streams)
    {
        foreach (var g in _graphs.Values) g.ResetTimings();
        var clock = Stopwatch.StartNew();
        double routeMs = 0, expertsMs = 0;
        var env = new Dictionary<string, (ReadOnlyMemory<float> Data, int[] Shape)> { [_inputName] = (input, [batchSize, .. _itemShape]) };
        var gflops = new double[batchSize];
        var routes = Enumerable.Range(0, batchSize).Select(_ => new List<int[]>()).ToArray();
        int block = 0;
        foreach (var step in _file.Manifest.Steps!)
        {
            if (step.Kind == "segment")
            {
                var outputs = _graphs[step.Onnx!].Run(step.Inputs!.Select(n => (n, env[n].Data, env[n].Shape)).ToList(), step.Outputs!);
                foreach (var t in outputs) env[t.Name] = (t.Data, t.Shape);
                for (int f = 0; f < batchSize; f++) gflops[f] += step.Gflops;
                continue;
            }
            var x = env[step.Input!];
            var stepClock = Stopwatch.StartNew();
            var logits = _graphs[step.Router!.Onnx!].Run([("x", x.Data, x.Shape)], [_graphs[step.Router.Onnx!].Session.OutputMetadata.Keys.First()])[0];
            var choices = Enumerable.Range(0, batchSize)
                .Select(f => _selector.Select(logits.Item(f), block, streams?[f]))
                .ToArray();
            routeMs += stepClock.Elapsed.TotalMilliseconds;

            stepClock.Restart();
            env[step.Output!] = RunChosenExperts(step, x, choices);
            expertsMs += stepClock.Elapsed.TotalMilliseconds;
            for (int f = 0; f < batchSize; f++)
            {
                routes[f].Add(choices[f].Experts);
                gflops[f] += step.Router.Gflops + choices[f].Experts.Sum(e => step.Experts![e].Gflops);
            }
            block++;
        }
        double total = clock.Elapsed.TotalMilliseconds;
        double upload = _graphs.Values.Sum(g => g.UploadMs), download = _graphs.Values.Sum(g => g.DownloadMs);
        var tensors = _file.Manifest.DecoderOutputs!.Select(n => new NamedTensor(n, env[n].Data.ToArray(), env[n].Shape)).ToArray();
        var frameRoutes = Enumerable.Range(0, batchSize).Select(f => new FrameRoute(routes[f], gflops[f])).ToArray();
        return new EngineOutput(tensors, frameRoutes, new EngineTimings(upload, total - upload - download, download, routeMs, expertsMs));
    }

    /// <summary>Each expert runs once over the frames that chose it; outputs are scattered back, weighted. All experts
    /// of a block give one output shape, which may differ from the input's (stride-2 blocks, heads).</summary>
    private (ReadOnlyMemory<float>, int[]) RunChosenExperts(ManifestStep step, (ReadOnlyMemory<float> Data, int[] Shape) x, (int[] Experts, double[] Weights)[] choices)
    {
        int batch = x.Shape[0], itemLength = x.Data.Length / batch;
        float[]? output = null;
        int[]? outputShape = null;
        for (int e = 0; e < step.Experts!.Length; e++)
        {
            var frames = Enumerable.Range(0, batch).Where(f => choices[f].Experts.Contains(e)).ToList();
            if (frames.Count == 0) continue;
            var input = Gather(x.Data, frames, itemLength);
            int[] inputShape = [frames.Count, .. x.Shape[1..]];
            // An expert without a graph is the identity: the block is skipped for these frames.
            var (y, yShape) = step.Experts[e].Onnx is { } graph
                ? ((ReadOnlyMemory<float>, int[]))RunExpert(graph, input, inputShape)
                : (input, inputShape);
            int outputItem = y.Length / frames.Count;
            if (output is null)
            {
                outputShape = [batch, .. yShape[1..]];
                output = new float[batch * outputItem];
            }
            else if (outputItem != output.Length / batch)
            {
                throw new InvalidModelException($"'{_file.Path}': the experts of step '{step.Name}' give outputs of different shapes " +
                    $"([{string.Join(",", outputShape!)}] and [{string.Join(",", yShape)}])");
            }
            var ySpan = y.Span;
            for (int j = 0; j < frames.Count; j++)
            {
                int f = frames[j];
                float weight = (float)choices[f].Weights[Array.IndexOf(choices[f].Experts, e)];
                var target = output.AsSpan(f * outputItem, outputItem);
                var source = ySpan.Slice(j * outputItem, outputItem);
                for (int i = 0; i < outputItem; i++) target[i] += weight * source[i];
            }
        }
        return (output!, outputShape!);
    }

    private (ReadOnlyMemory<float>, int[]) RunExpert(string graph, ReadOnlyMemory<float> input, int[] shape)
    {
        var y = _graphs[graph].Run([("x", input, shape)], ["y"])[0];
        return (y.Data, y.Shape);
    }

    private static ReadOnlyMemory<float> Gather(ReadOnlyMemory<float> data, List<int> frames, int itemLength)
    {
        if (frames.Count * itemLength == data.Length) return data;   // every frame: no copy
        var gathered = new float[frames.Count * itemLength];
        for (int j = 0; j < frames.Count; j++)
            data.Span.Slice(frames[j] * itemLength, itemLength).CopyTo(gathered.AsSpan(j * itemLength));
        return gathered;
    }

    public void Dispose()
    {
        foreach (var g in _graphs.Values) g.Dispose();
    }
}
