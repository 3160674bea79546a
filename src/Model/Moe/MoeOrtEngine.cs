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
    private readonly MoeStepWalker _walker;
    private readonly Dictionary<string, InferenceSession> _graphs = [];
    private readonly RunOptions _runOptions = new();
    private readonly string _inputName;
    private readonly int[] _itemShape;

    public MoeOrtEngine(MoeModelFile file, EngineRequest request, int[] itemShape, int maxBatch = 64)
    {
        _file = file;
        _walker = MoeStepWalker.For(file.Manifest, request);
        _inputName = file.Manifest.Input!["name"]!.GetValue<string>();
        _itemShape = itemShape;
        MaxBatch = maxBatch;
        string engineName = "";
        try
        {
            foreach (var entry in MoeStepWalker.GraphEntries(file.Manifest))
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

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize) => Run(input, batchSize, null);

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize, IReadOnlyList<string>? streams)
    {
        var clock = Stopwatch.StartNew();
        using var scope = new TensorScope();
        var env = new Dictionary<string, OrtValue> { [_inputName] = scope.Wrap(MemoryMarshal.AsMemory(input), [batchSize, .. _itemShape]) };
        double upload = clock.Elapsed.TotalMilliseconds;
        var (routes, routeMs, expertsMs) = _walker.Walk(new HostExecutor(this, scope), env, batchSize, streams);

        var download = Stopwatch.StartNew();
        var tensors = _file.Manifest.DecoderOutputs!.Select(n => new NamedTensor(n, env[n].GetTensorDataAsSpan<float>().ToArray(), Shape(env[n]))).ToArray();
        double downloadMs = download.Elapsed.TotalMilliseconds;
        return new EngineOutput(tensors, routes, new EngineTimings(upload, clock.Elapsed.TotalMilliseconds - upload - downloadMs, downloadMs, routeMs, expertsMs));
    }

    /// <summary>Runs the pieces of one batch on host tensors; the scope owns every value made on the way.</summary>
    private sealed class HostExecutor(MoeOrtEngine engine, TensorScope scope) : IMoeStepExecutor<OrtValue>
    {
        public void RunSegment(ManifestStep step, Dictionary<string, OrtValue> env)
        {
            var outputs = scope.Run(engine._graphs[step.Onnx!], engine._runOptions, step.Inputs!, step.Inputs!.Select(n => env[n]).ToArray(), step.Outputs!);
            for (int o = 0; o < outputs.Count; o++) env[step.Outputs![o]] = outputs[o];
        }

        public float[] RouterLogits(ManifestStep step, OrtValue x)
        {
            var router = engine._graphs[step.Router!.Onnx!];
            return scope.Run(router, engine._runOptions, ["x"], [x], [router.OutputMetadata.Keys.First()])[0].GetTensorDataAsSpan<float>().ToArray();
        }

        /// <summary>Each chosen expert runs once over the frames that chose it; their outputs are scattered back,
        /// weighted. All experts of a block give one output shape, which may differ from the input's (stride-2 blocks,
        /// heads). When every frame chose the same single expert, its output is the block output as it is.</summary>
        public OrtValue RunChosenExperts(ManifestStep step, OrtValue x, ExpertChoice[] choices)
        {
            if (ExpertChoice.SameSingleExpert(choices) is { } only) return RunExpert(step, only, x);
            int[] xShape = Shape(x);
            int batch = xShape[0];
            var xData = x.GetTensorDataAsSpan<float>();
            int itemLength = xData.Length / batch;
            float[]? output = null;
            int[]? outputShape = null;
            for (int e = 0; e < step.Experts!.Length; e++)
            {
                var frames = ExpertChoice.FramesOf(choices, e);
                if (frames.Count == 0) continue;
                var gathered = new float[frames.Count * itemLength];
                for (int j = 0; j < frames.Count; j++)
                    xData.Slice(frames[j] * itemLength, itemLength).CopyTo(gathered.AsSpan(j * itemLength));
                var y = RunExpert(step, e, scope.Wrap(gathered, [frames.Count, .. xShape[1..]]));
                var yData = y.GetTensorDataAsSpan<float>();
                int outputItem = yData.Length / frames.Count;
                if (output is null)
                {
                    outputShape = [batch, .. Shape(y)[1..]];
                    output = new float[batch * outputItem];
                }
                else if (outputItem != output.Length / batch)
                {
                    throw MoeStepWalker.ShapeMismatch(engine._file.Path, step, outputShape!, Shape(y));
                }
                for (int j = 0; j < frames.Count; j++)
                {
                    float weight = choices[frames[j]].WeightOf(e);
                    var target = output.AsSpan(frames[j] * outputItem, outputItem);
                    var source = yData.Slice(j * outputItem, outputItem);
                    for (int i = 0; i < outputItem; i++) target[i] += weight * source[i];
                }
            }
            return scope.Wrap(output!, outputShape!);
        }

        /// <summary>An expert without a graph is the identity: the block is skipped for these frames.</summary>
        private OrtValue RunExpert(ManifestStep step, int expert, OrtValue input) =>
            step.Experts![expert].Onnx is { } graph ? scope.Run(engine._graphs[graph], engine._runOptions, ["x"], [input], ["y"])[0] : input;
    }

    private static int[] Shape(OrtValue value) => MoeStepWalker.Shape(value);

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
