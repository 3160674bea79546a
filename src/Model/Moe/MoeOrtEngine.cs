using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using MoeDetect.Model.Engines;

namespace MoeDetect.Model.Moe;

/// <summary>Runs an ES-MoE model file on ONNX Runtime, executing ONLY the experts each frame's router chose: the
/// model's segments run in order over a name → tensor environment; at each MoE block the router runs on the whole
/// batch, then each chosen expert runs once over the frames that chose it (grouped), and the block output is the
/// router-weighted sum. Tensors stay ONNX Runtime values between graphs (no copies), and a block where every frame
/// chose one expert passes that expert's output on as it is. Reports each frame's route and executed GFLOPs.</summary>
public sealed class MoeOrtEngine : IRoutedEngine
{
    private readonly MoeModelFile _file;
    private readonly ExpertSelector _selector;
    private readonly Dictionary<string, InferenceSession> _graphs = [];
    private readonly RunOptions _runOptions = new();
    private readonly string _inputName;
    private readonly int[] _itemShape;

    public MoeOrtEngine(MoeModelFile file, EngineRequest request, int[] itemShape, int maxBatch = 64)
    {
        _file = file;
        _selector = ExpertSelector.ForRequest(file.Manifest, request);
        _inputName = file.Manifest.Input!["name"]!.GetValue<string>();
        _itemShape = itemShape;
        MaxBatch = maxBatch;
        string engineName = "";
        try
        {
            foreach (var entry in GraphEntries(file.Manifest))
                (_graphs[entry], engineName) = OrtSessionFactory.Create(file.Graph(entry), $"{file.Path}:{entry}", request);
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
        var clock = Stopwatch.StartNew();
        using var scope = new TensorScope();
        var env = new Dictionary<string, OrtValue> { [_inputName] = scope.Wrap(MemoryMarshal.AsMemory(input), [batchSize, .. _itemShape]) };
        double upload = clock.Elapsed.TotalMilliseconds, routeMs = 0, expertsMs = 0;
        var routes = new BatchRoutes(batchSize);
        int block = 0;
        foreach (var step in _file.Manifest.Steps!)
        {
            if (step.Kind == "segment")
            {
                var outputs = scope.Run(_graphs[step.Onnx!], _runOptions, step.Inputs!, step.Inputs!.Select(n => env[n]).ToArray(), step.Outputs!);
                for (int o = 0; o < outputs.Count; o++) env[step.Outputs![o]] = outputs[o];
                routes.AddSegment(step);
                continue;
            }
            var x = env[step.Input!];
            var stepClock = Stopwatch.StartNew();
            var router = _graphs[step.Router!.Onnx!];
            var logits = scope.Run(router, _runOptions, ["x"], [x], [router.OutputMetadata.Keys.First()])[0];
            var choices = _selector.SelectBatch(logits.GetTensorDataAsSpan<float>(), batchSize, block, streams);
            routeMs += stepClock.Elapsed.TotalMilliseconds;

            stepClock.Restart();
            env[step.Output!] = RunChosenExperts(step, x, choices, scope);
            expertsMs += stepClock.Elapsed.TotalMilliseconds;
            routes.AddBlock(step, choices);
            block++;
        }

        var download = Stopwatch.StartNew();
        var tensors = _file.Manifest.DecoderOutputs!.Select(n => new NamedTensor(n, env[n].GetTensorDataAsSpan<float>().ToArray(), Shape(env[n]))).ToArray();
        double downloadMs = download.Elapsed.TotalMilliseconds;
        return new EngineOutput(tensors, routes.ToFrameRoutes(), new EngineTimings(upload, clock.Elapsed.TotalMilliseconds - upload - downloadMs, downloadMs, routeMs, expertsMs));
    }

    /// <summary>Each chosen expert runs once over the frames that chose it; their outputs are scattered back,
    /// weighted. All experts of a block give one output shape, which may differ from the input's (stride-2 blocks,
    /// heads). When every frame chose the same single expert, its output is the block output as it is.</summary>
    private OrtValue RunChosenExperts(ManifestStep step, OrtValue x, (int[] Experts, double[] Weights)[] choices, TensorScope scope)
    {
        int[] xShape = Shape(x);
        int batch = xShape[0];
        if (choices.All(c => c.Experts.Length == 1) && choices.Select(c => c.Experts[0]).Distinct().Count() == 1)
            return RunExpert(step, choices[0].Experts[0], x, scope);

        var xData = x.GetTensorDataAsSpan<float>();
        int itemLength = xData.Length / batch;
        float[]? output = null;
        int[]? outputShape = null;
        for (int e = 0; e < step.Experts!.Length; e++)
        {
            var frames = Enumerable.Range(0, batch).Where(f => choices[f].Experts.Contains(e)).ToList();
            if (frames.Count == 0) continue;
            var gathered = new float[frames.Count * itemLength];
            for (int j = 0; j < frames.Count; j++)
                xData.Slice(frames[j] * itemLength, itemLength).CopyTo(gathered.AsSpan(j * itemLength));
            var y = RunExpert(step, e, scope.Wrap(gathered, [frames.Count, .. xShape[1..]]), scope);
            var yData = y.GetTensorDataAsSpan<float>();
            int outputItem = yData.Length / frames.Count;
            if (output is null)
            {
                outputShape = [batch, .. Shape(y)[1..]];
                output = new float[batch * outputItem];
            }
            else if (outputItem != output.Length / batch)
            {
                throw new InvalidModelException($"'{_file.Path}': the experts of step '{step.Name}' give outputs of different shapes " +
                    $"([{string.Join(",", outputShape!)}] and [{string.Join(",", Shape(y))}])");
            }
            for (int j = 0; j < frames.Count; j++)
            {
                int f = frames[j];
                float weight = (float)choices[f].Weights[Array.IndexOf(choices[f].Experts, e)];
                var target = output.AsSpan(f * outputItem, outputItem);
                var source = yData.Slice(j * outputItem, outputItem);
                for (int i = 0; i < outputItem; i++) target[i] += weight * source[i];
            }
        }
        return scope.Wrap(output!, outputShape!);
    }

    /// <summary>An expert without a graph is the identity: the block is skipped for these frames.</summary>
    private OrtValue RunExpert(ManifestStep step, int expert, OrtValue input, TensorScope scope) =>
        step.Experts![expert].Onnx is { } graph ? scope.Run(_graphs[graph], _runOptions, ["x"], [input], ["y"])[0] : input;

    private static int[] Shape(OrtValue value) => value.GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray();

    public void Dispose()
    {
        foreach (var g in _graphs.Values) g.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>Owns the ONNX Runtime values of one batch (graph results and wrapped host buffers) until it ends.</summary>
    private sealed class TensorScope : IDisposable
    {
        private readonly List<IDisposable> _owned = [];

        public OrtValue Wrap(Memory<float> data, int[] shape)
        {
            var value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, data, shape.Select(d => (long)d).ToArray());
            _owned.Add(value);
            return value;
        }

        public IReadOnlyList<OrtValue> Run(InferenceSession session, RunOptions options, IReadOnlyCollection<string> inputNames,
            IReadOnlyCollection<OrtValue> inputs, IReadOnlyCollection<string> outputNames)
        {
            var results = session.Run(options, inputNames, inputs, outputNames);
            _owned.Add(results);
            return results;
        }

        public void Dispose()
        {
            foreach (var d in _owned) d.Dispose();
        }
    }
}
