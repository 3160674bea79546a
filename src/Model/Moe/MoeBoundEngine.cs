using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Input;
using Onnx;

namespace MoeDetect.Model.Moe;

/// <summary>Runs an ES-MoE model file with every tensor kept in the execution provider's memory (the GPU's with
/// CUDA): pieces are chained through IOBinding, their outputs bound to the device allocator and passed on as the
/// next piece's inputs. Frames come in as 8-bit canvases (the first segment normalises them, see
/// <see cref="PixelInputGraph"/>) copied once from page-locked staging; between pieces only each router's logits
/// ([batch × experts] floats) come to the host, to choose experts; the gather of an expert's frames and the
/// weighted mix of the experts' outputs run on the device (<see cref="DeviceMixingGraphs"/>), and only the
/// decoder's outputs are copied back at the end. Only chosen experts run, as in <see cref="MoeOrtEngine"/>, whose
/// routes and GFLOPs this engine reports the same way. Expert batches change size from batch to batch, so CUDA
/// graphs are not used.</summary>
public sealed class MoeBoundEngine : IRoutedPixelEngine
{
    private readonly MoeModelFile _file;
    private readonly MoeStepWalker _walker;
    private readonly TensorMemory _memory;
    private readonly Dictionary<string, InferenceSession> _graphs = [];
    private readonly InferenceSession[] _combine;
    private readonly InferenceSession _gather;
    private readonly RunOptions _runOptions = new();
    private readonly string _inputName;
    private readonly long[] _pixelShape;
    private readonly long _bytesPerItem;
    private readonly nint _pixels, _pixelStaging;

    /// <param name="cuda">Null for ONNX Runtime's CPU provider (then <paramref name="memory"/> is host memory).</param>
    /// <param name="memory">Where the tensors live; the engine owns it.</param>
    public MoeBoundEngine(MoeModelFile file, InputSpec spec, EngineRequest request, CudaSettings? cuda, TensorMemory memory, int maxBatch)
    {
        _file = file;
        _memory = memory;
        _walker = MoeStepWalker.For(file.Manifest, request);
        _inputName = spec.TensorName;
        _pixelShape = [maxBatch, spec.Height, spec.Width, 3];
        _bytesPerItem = 3L * spec.Width * spec.Height;
        MaxBatch = maxBatch;
        // Its pieces run one after another with the host choosing the route between them: no graphs, so no queued runs either.
        cuda = cuda is null ? null : cuda with { CudaGraphs = false };
        Name = (cuda?.EngineName ?? "ort-cpu-iobinding") + "-moe-bound";
        InferenceSession Session(byte[] graph, string label) => OrtSessionFactory.Create(graph, $"{file.Path}:{label}", request.Threads, cuda, idleSpinning: false);
        try
        {
            if (file.Manifest.Steps!.Any(s => s.Kind == "moe" && s.Input == _inputName))
                throw new InvalidModelException($"'{file.Path}': an MoE block takes the model input '{_inputName}' directly; the device engine needs a segment first (use --engine ilgpu or --device cpu)");
            var pixelSegments = file.Manifest.Steps!.Where(s => s.Kind == "segment" && s.Inputs!.Contains(_inputName)).Select(s => s.Onnx!).ToHashSet();
            foreach (var entry in MoeStepWalker.GraphEntries(file.Manifest))
                _graphs[entry] = Session(pixelSegments.Contains(entry) ? PixelSegment(file.Graph(entry), spec) : file.Graph(entry), entry);
            _gather = Session(DeviceMixingGraphs.Gather(), "gather");
            int mostExperts = file.Manifest.Steps!.Max(s => s.Experts?.Length ?? 0);
            _combine = Enumerable.Range(1, mostExperts).Select(m => Session(DeviceMixingGraphs.Combine(m), $"combine{m}")).ToArray();
            _pixels = memory.AllocateTensor(maxBatch * _bytesPerItem);
            _pixelStaging = memory.IsHost ? _pixels : memory.AllocateStaging(maxBatch * _bytesPerItem);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Name { get; }
    public int MaxBatch { get; }

    public unsafe Span<byte> PixelStaging => new((void*)_pixelStaging, checked((int)(MaxBatch * _bytesPerItem)));

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize) =>
        throw new InvalidOperationException($"{Name} takes 8-bit canvases: fill PixelStaging and call RunPixels");

    public EngineOutput RunPixels(int batchSize) => RunPixels(batchSize, null);

    public EngineOutput RunPixels(int batchSize, IReadOnlyList<string>? streams)
    {
        if (batchSize < 1 || batchSize > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch of {batchSize}; this engine takes 1 to {MaxBatch}");
        var clock = Stopwatch.StartNew();
        using var scope = new DeviceScope();
        try
        {
            _memory.CopyIn(_pixelStaging, _pixels, batchSize * _bytesPerItem);
            var pixels = scope.Own(OrtValue.CreateTensorValueWithData(_memory.Info, TensorElementType.UInt8,
                [batchSize, .. _pixelShape[1..]], _pixels, batchSize * _bytesPerItem));
            var env = new Dictionary<string, OrtValue> { [_inputName] = pixels };
            double upload = clock.Elapsed.TotalMilliseconds;
            var (routes, routeMs, expertsMs) = _walker.Walk(new DeviceExecutor(this, scope), env, batchSize, streams);

            var download = Stopwatch.StartNew();
            var tensors = _file.Manifest.DecoderOutputs!.Select(n => new NamedTensor(n, ToHost(env[n]), MoeStepWalker.Shape(env[n]))).ToArray();
            double downloadMs = download.Elapsed.TotalMilliseconds;
            return new EngineOutput(tensors, routes, new EngineTimings(upload, clock.Elapsed.TotalMilliseconds - upload - downloadMs, downloadMs, routeMs, expertsMs));
        }
        catch (OnnxRuntimeException e) when (GpuOutOfMemory.Matches(e))
        {
            throw GpuOutOfMemory.Error(MaxBatch, e);
        }
    }

    /// <summary>The segment that takes the model input, rewritten to take 8-bit canvases; its batch stays open
    /// (the rewrite fixes it for CUDA graphs, which this engine does not use).</summary>
    private static byte[] PixelSegment(byte[] graph, InputSpec spec)
    {
        var proto = ModelProto.Parser.ParseFrom(PixelInputGraph.Rewrite(graph, spec, batch: 1));
        proto.Graph.Input.Single(i => i.Name == PixelInputGraph.InputName).Type.TensorType.Shape.Dim[0] =
            new TensorShapeProto.Types.Dimension { DimParam = "N" };
        return proto.ToByteArray();
    }

    private unsafe float[] ToHost(OrtValue value)
    {
        var data = new float[value.GetTensorTypeAndShape().ElementCount];
        fixed (float* host = data) _memory.CopyOut(Address(value), (nint)host, data.Length * sizeof(float));
        return data;
    }

    /// <summary>Where a tensor's data is, in the memory it lives in (the span is never read: it may be GPU memory).</summary>
    private static unsafe nint Address(OrtValue value) =>
        (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(value.GetTensorMutableRawData()));

    public void Dispose()
    {
        foreach (var g in _graphs.Values) g.Dispose();
        _gather?.Dispose();
        foreach (var c in _combine ?? []) c.Dispose();
        _runOptions.Dispose();
        _memory.Dispose();
    }

    /// <summary>Runs the pieces of one batch with their outputs left in the provider's memory.</summary>
    private sealed class DeviceExecutor(MoeBoundEngine engine, DeviceScope scope) : IMoeStepExecutor<OrtValue>
    {
        public void RunSegment(ManifestStep step, Dictionary<string, OrtValue> env)
        {
            var inputs = step.Inputs!.Select(n => (n == engine._inputName ? PixelInputGraph.InputName : n, env[n])).ToArray();
            var outputs = Run(engine._graphs[step.Onnx!], inputs, step.Outputs!);
            for (int o = 0; o < outputs.Count; o++) env[step.Outputs![o]] = outputs[o];
        }

        public float[] RouterLogits(ManifestStep step, OrtValue x)
        {
            var router = engine._graphs[step.Router!.Onnx!];
            return engine.ToHost(Run(router, [("x", x)], [router.OutputMetadata.Keys.First()])[0]);
        }

        /// <summary>Each chosen expert runs once over its frames (gathered on the device unless it is the whole
        /// batch); one combine run then mixes the outputs. Every frame choosing the same single expert passes its
        /// output on as it is; identity experts contribute their (gathered) input.</summary>
        public OrtValue RunChosenExperts(ManifestStep step, OrtValue x, ExpertChoice[] choices)
        {
            if (ExpertChoice.SameSingleExpert(choices) is { } only) return RunExpert(step, only, x);
            int batch = choices.Length;
            var outputs = new List<(int Expert, List<int> Frames, OrtValue Y)>();
            for (int e = 0; e < step.Experts!.Length; e++)
            {
                var frames = ExpertChoice.FramesOf(choices, e);
                if (frames.Count == 0) continue;
                var input = frames.Count == batch ? x
                    : Run(engine._gather, [("x", x), (DeviceMixingGraphs.Rows, scope.Host(frames.Select(f => (long)f).ToArray(), [frames.Count]))], [DeviceMixingGraphs.Output])[0];
                outputs.Add((e, frames, RunExpert(step, e, input)));
            }
            return Combine(step, outputs, choices);
        }

        private OrtValue Combine(ManifestStep step, List<(int Expert, List<int> Frames, OrtValue Y)> outputs, ExpertChoice[] choices)
        {
            int batch = choices.Length;
            int[] itemShape = MoeStepWalker.Shape(outputs[0].Y)[1..];
            foreach (var o in outputs.Skip(1))
                if (!MoeStepWalker.Shape(o.Y)[1..].SequenceEqual(itemShape))
                    throw MoeStepWalker.ShapeMismatch(engine._file.Path, step, [batch, .. itemShape], MoeStepWalker.Shape(o.Y));

            // Slot s of frame f: its s-th expert in expert order (the host engine's summation order); rows index the
            // experts' outputs stacked in that order. Frames with fewer experts keep weight-0 slots pointing at row 0.
            int k = choices.Max(c => c.Experts.Length);
            var rows = new long[batch * k];
            var weights = new float[batch * k];
            var filled = new int[batch];
            int stackRow = 0;
            foreach (var (expert, frames, _) in outputs)
            {
                for (int j = 0; j < frames.Count; j++)
                {
                    int f = frames[j], slot = f * k + filled[f]++;
                    rows[slot] = stackRow + j;
                    weights[slot] = choices[f].WeightOf(expert);
                }
                stackRow += frames.Count;
            }
            var inputs = outputs.Select((o, i) => (DeviceMixingGraphs.ExpertInput(i), o.Y)).ToList();
            inputs.Add((DeviceMixingGraphs.Rows, scope.Host(rows, [rows.Length])));
            inputs.Add((DeviceMixingGraphs.Weights, scope.Host(weights, [weights.Length, .. itemShape.Select(_ => 1L)])));
            long[] grouped = [batch, k, -1], outputShape = [batch, .. itemShape.Select(d => (long)d)];
            inputs.Add((DeviceMixingGraphs.Grouped, scope.Host(grouped, [grouped.Length])));
            inputs.Add((DeviceMixingGraphs.OutputShape, scope.Host(outputShape, [outputShape.Length])));
            return Run(engine._combine[outputs.Count - 1], inputs, [DeviceMixingGraphs.Output])[0];
        }

        /// <summary>An expert without a graph is the identity: the block is skipped for these frames.</summary>
        private OrtValue RunExpert(ManifestStep step, int expert, OrtValue input) =>
            step.Experts![expert].Onnx is { } graph ? Run(engine._graphs[graph], [("x", input)], ["y"])[0] : input;

        /// <summary>One run with inputs bound where they are and outputs left on the provider's allocator. A fresh
        /// binding each run: a reused one would write the next results into buffers still in use.</summary>
        private IReadOnlyList<OrtValue> Run(InferenceSession session, IEnumerable<(string Name, OrtValue Value)> inputs, IEnumerable<string> outputNames)
        {
            using var binding = session.CreateIoBinding();
            foreach (var (name, value) in inputs) binding.BindInput(name, value);
            foreach (var name in outputNames) binding.BindOutputToDevice(name, engine._memory.Info);
            session.RunWithBinding(engine._runOptions, binding);
            return scope.Own(binding.GetOutputValues());
        }
    }

    /// <summary>Owns the values of one batch (device results and small host tensors) until it ends.</summary>
    private sealed class DeviceScope : IDisposable
    {
        private readonly List<IDisposable> _owned = [];

        public T Own<T>(T value) where T : IDisposable
        {
            _owned.Add(value);
            return value;
        }

        /// <summary>A small host tensor (expert rows, weights, shapes); the provider copies it where its kernels need it.</summary>
        public OrtValue Host<T>(T[] data, long[] shape) where T : unmanaged =>
            Own(OrtValue.CreateTensorValueFromMemory(data, shape));

        public void Dispose()
        {
            foreach (var d in _owned) d.Dispose();
        }
    }
}
