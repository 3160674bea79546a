using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Moe;

namespace MoeDetect.Model.Ilgpu.Moe;

/// <summary>Runs an ES-MoE model file (<c>.moedet</c>) with the project's ILGPU kernels, keeping every tensor on the
/// device: segments, routers and experts are each compiled once (a plan per batch size, built on first use) and
/// chained over a name → device tensor environment. At each MoE block the router runs on the device and its logits
/// [batch, experts] are the block's one small read back to the host, where <see cref="MoeStepWalker"/> chooses;
/// the frames that chose each expert are gathered on the device and run through it together, and the block output
/// is their router-weighted sum. Routes, GFLOPs and timings are reported as <see cref="MoeOrtEngine"/> reports them.</summary>
public sealed class MoeIlgpuEngine : IRoutedEngine, IRoutedPixelEngine, IMoeStepExecutor<DeviceTensor>
{
    private readonly MoeModelFile _file;
    private readonly MoeStepWalker _walker;
    private readonly IlgpuDevice _device;
    private readonly ExpertDispatch _dispatch;
    private readonly string _inputName;
    private readonly int[] _itemShape;
    /// <summary>Each manifest step's device pieces, keyed by the step itself (the walker hands steps back).</summary>
    private readonly Dictionary<ManifestStep, StepPieces> _pieces = new(ReferenceEqualityComparer.Instance);
    private MemoryBuffer1D<float, Stride1D.Dense>? _input;
    /// <summary>Page-locked room for a router's logits, regrown when a batch needs more.</summary>
    private PageLockedArray1D<float>? _logits;
    private readonly Lazy<DeviceCanvases> _canvases;
    /// <summary>Stream markers around each router and each block's experts in the batch being run: their device time,
    /// read once the batch is done, is the route and experts time. Host clocks would count whatever the stream still had
    /// queued from earlier stages, unless the host waited after each stage.</summary>
    private readonly List<(ProfilingMarker Start, ProfilingMarker End, bool Route)> _stageMarks = [];
    /// <summary>The arithmetic of the plans queued for the batch running now (the chosen experts' only).</summary>
    private double _runFlops;

    private MoeIlgpuEngine(MoeModelFile file, EngineRequest request, int[] itemShape, IlgpuDevice device, int maxBatch)
    {
        _file = file;
        _device = device;
        _walker = MoeStepWalker.For(file.Manifest, request);
        _inputName = file.Manifest.Input!["name"]!.GetValue<string>();
        _itemShape = itemShape;
        MaxBatch = maxBatch;
        var accelerator = device.Accelerator;
        Name = (accelerator.AcceleratorType == AcceleratorType.Cuda ? $"ilgpu-cuda ({accelerator.Name})" : "ilgpu-cpu") + "-moe";
        try
        {
            var warn = request.Warn ?? (_ => { });
            var kernels = new KernelLibrary(accelerator, device.Stream, warn);
            kernels.Tuner = LaunchTuner.ForDevice(kernels, warn);
            // Made on first use (float-input callers never need them), by one thread even when frames are letterboxed in parallel.
            _canvases = new Lazy<DeviceCanvases>(() =>
            {
                _device.BindToThisThread();
                // One slot: the pipelined detector does not overlap routed engines (their runs take each frame's stream).
                return new DeviceCanvases(kernels, MoeModelLoader.Input(file), MaxBatch, slots: 1);
            });
            _dispatch = new ExpertDispatch(kernels);
            DeviceGraph Load(string entry, IReadOnlyList<string>? outputs) => DeviceGraph.Load(file.Graph(entry), $"{file.Path}:{entry}", kernels, outputs);
            foreach (var step in file.Manifest.Steps!)
            {
                bool segment = step.Kind == "segment";
                var pieces = _pieces[step] = new StepPieces(segment ? Load(step.Onnx!, step.Outputs) : Load(step.Router!.Onnx!, null));
                if (!segment)
                    foreach (var expert in step.Experts!) pieces.Experts.Add(expert.Onnx is { } onnx ? Load(onnx, ["y"]) : null);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Loads every graph of <paramref name="file"/> for <paramref name="target"/>. Throws
    /// <see cref="InvalidModelException"/> (an operator the engine cannot run, named) or <see cref="GpuUnavailableException"/>.</summary>
    public static MoeIlgpuEngine Load(MoeModelFile file, EngineRequest request, int[] itemShape, IlgpuTarget target, int maxBatch = 64) =>
        new(file, request, itemShape, IlgpuDevice.Open(target), maxBatch);

    /// <summary>The engine for <c>--engine ilgpu</c>: with <c>--device gpu</c> a missing CUDA device is an error; with
    /// <c>auto</c> it is a warning and null, so the caller runs the model on the CPU.</summary>
    public static MoeIlgpuEngine? ForRequest(MoeModelFile file, EngineRequest request, int[] itemShape)
    {
        try
        {
            return Load(file, request, itemShape, IlgpuTarget.Cuda, Math.Max(1, request.Batch));
        }
        catch (GpuUnavailableException e) when (request.Device == ComputeDevice.Auto)
        {
            request.Warn?.Invoke($"warning: {e.Message}; running on the CPU");
            return null;
        }
    }

    public string Name { get; }
    public int MaxBatch { get; }

    /// <summary>Device memory the plans built so far keep for intermediate tensors (grows with each new batch size).</summary>
    public long PlanBytes => _pieces.Values.Sum(p => p.IntermediateBytes);

    private Accelerator Accelerator => _device.Accelerator;

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize) => Run(input, batchSize, null);

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize, IReadOnlyList<string>? streams)
    {
        int expected = batchSize * _itemShape.Aggregate(1, (a, b) => a * b);
        if (input.Length != expected)
            throw new ArgumentException($"input holds {input.Length} values; batch {batchSize} of [{string.Join(",", _itemShape)}] needs {expected}");
        return Run(batchSize, streams, view => DeviceMemory.Upload(view, input.Span));
    }

    /// <summary>Room for <see cref="MaxBatch"/> letterboxed canvases in page-locked memory, made on first use.</summary>
    public Span<byte> PixelStaging => Canvases.Staging(0);

    public EngineOutput RunPixels(int batchSize) => RunPixels(batchSize, null);

    /// <summary>Runs the canvases in <see cref="PixelStaging"/>: they are normalised on the device (<see cref="DeviceCanvases"/>).</summary>
    public EngineOutput RunPixels(int batchSize, IReadOnlyList<string>? streams) =>
        Run(batchSize, streams, view =>
        {
            Canvases.Upload(0, batchSize);
            Canvases.Normalize(0, view, 0, batchSize);
        });

    private DeviceCanvases Canvases => _canvases.Value;

    private EngineOutput Run(int batchSize, IReadOnlyList<string>? streams, Action<ArrayView<float>> writeInput)
    {
        if (batchSize < 1 || batchSize > MaxBatch) throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch size {batchSize} is outside 1..{MaxBatch}");
        int[] inputShape = [batchSize, .. _itemShape];
        _device.BindToThisThread();
        var clock = Stopwatch.StartNew();
        _runFlops = 0;
        var inputView = Reserve(ref _input, inputShape.Aggregate(1L, (a, b) => a * b), "input frames");
        writeInput(inputView);
        var env = new Dictionary<string, DeviceTensor> { [_inputName] = Pinned(inputView, inputShape) };
        double upload = clock.Elapsed.TotalMilliseconds;
        var (routes, _, _) = _walker.Walk(this, env, batchSize, streams);
        // The last segment may still be running: its time is inference, not download.
        _device.Stream.Synchronize();

        var download = Stopwatch.StartNew();
        var tensors = _file.Manifest.DecoderOutputs!.Select(n => Download(n, env[n])).ToArray();
        double downloadMs = download.Elapsed.TotalMilliseconds;
        var (routeMs, expertsMs) = StageTimes();
        return new EngineOutput(tensors, routes, new EngineTimings(upload, clock.Elapsed.TotalMilliseconds - upload - downloadMs, downloadMs, routeMs, expertsMs, _runFlops));
    }

    void IMoeStepExecutor<DeviceTensor>.RunSegment(ManifestStep step, Dictionary<string, DeviceTensor> env)
    {
        var graph = _pieces[step].Graph;
        var plan = Enqueue(graph, graph.InputNames.Select(n => env.TryGetValue(n, out var t) ? t
            : throw new InvalidModelException($"'{_file.Path}:{step.Onnx}' reads '{n}', which no earlier step produces")).ToList());
        foreach (var name in step.Outputs!) env[name] = Output(plan, name, step.Onnx!);
    }

    /// <summary>Runs the router and reads its logits back: the block's one device-to-host copy, queued behind the router
    /// into page-locked memory, so that the host waits once (a blocking copy of pageable memory after the wait took a
    /// second round trip while the device idled).</summary>
    float[] IMoeStepExecutor<DeviceTensor>.RouterLogits(ManifestStep step, DeviceTensor x)
    {
        var router = _pieces[step].Graph;
        var start = _device.Stream.AddProfilingMarker();
        var logits = Output(Enqueue(router, [x]), router.OutputNames[0], step.Router!.Onnx!);
        _stageMarks.Add((start, _device.Stream.AddProfilingMarker(), Route: true));
        if (_logits is null || _logits.Length < logits.Length)
        {
            _logits?.Dispose();
            _logits = Accelerator.AllocatePageLocked1D<float>(logits.Length);
        }
        var staged = _logits.ArrayView.SubView(0, logits.Length);
        logits.View.CopyTo(_device.Stream, staged);
        _device.Stream.Synchronize();
        return _logits.Span[..logits.Length].ToArray();
    }

    /// <summary>Each chosen expert runs over the frames that chose it (gathered on the device), and their outputs are
    /// added, weighted, into the block output. All experts of a block give one output shape, which may differ from
    /// the input's. When every frame chose the same single expert, its output is the block output as it is.</summary>
    DeviceTensor IMoeStepExecutor<DeviceTensor>.RunChosenExperts(ManifestStep step, DeviceTensor x, ExpertChoice[] choices)
    {
        var start = _device.Stream.AddProfilingMarker();
        var output = EnqueueChosenExperts(step, _pieces[step], x, choices);
        _stageMarks.Add((start, _device.Stream.AddProfilingMarker(), Route: false));
        return output;
    }

    /// <summary>Every plan the runs so far built (segments, routers, and experts at each run batch their frame groups
    /// took) with every launch timed alone (<see cref="StepSequence.Profile"/>), in manifest order: for
    /// <c>ilgpu-bench profile</c> of a model file, where a routed model's time goes. Each plan counts once, however
    /// often a batch ran it.</summary>
    internal List<PieceProfile> ProfilePlans(int iterations)
    {
        _device.BindToThisThread();
        var profiles = new List<PieceProfile>();
        void Add(string piece, DeviceGraph graph)
        {
            foreach (var (shapes, plan) in graph.Plans)
                profiles.Add(new PieceProfile(piece, shapes, plan.Steps.Profile(Accelerator.Synchronize, iterations)));
        }
        foreach (var step in _file.Manifest.Steps!)
        {
            var pieces = _pieces[step];
            Add(step.Kind == "segment" ? step.Name! : $"{step.Name} router", pieces.Graph);
            for (int e = 0; e < pieces.Experts.Count; e++)
                if (pieces.Experts[e] is { } expert) Add($"{step.Name} expert {step.Experts![e].Name}", expert);
        }
        return profiles;
    }

    /// <summary>The batch's route and experts device time from the stage markers (the batch is done), which are then freed.</summary>
    private (double RouteMs, double ExpertsMs) StageTimes()
    {
        double route = 0, experts = 0;
        foreach (var (start, end, isRoute) in _stageMarks)
        {
            double ms = end.MeasureFrom(start).TotalMilliseconds;
            if (isRoute) route += ms;
            else experts += ms;
            start.Dispose();
            end.Dispose();
        }
        _stageMarks.Clear();
        return (route, experts);
    }

    private DeviceTensor EnqueueChosenExperts(ManifestStep step, StepPieces pieces, DeviceTensor x, ExpertChoice[] choices)
    {
        var experts = pieces.Experts;
        int batch = x.Shape[0], itemLength = x.Length / batch;
        if (ExpertChoice.SameSingleExpert(choices) is { } only)
            return experts[only] is { } graph ? Output(Enqueue(graph, [x]), "y", step.Experts![only].Onnx!) : x;

        var groups = ExpertGroup.From(choices, experts.Count);
        _dispatch.Upload(groups);
        DeviceTensor? output = null;
        foreach (var group in groups)
        {
            if (experts[group.Expert] is not { } expert)
            {
                output = BlockOutput(pieces, output, x.Shape, step);
                _dispatch.Accumulate(x.View, group, 0, group.Frames.Length, output.View, itemLength, sourceByFrame: true);
                continue;
            }
            foreach (var (start, count, runBatch) in group.Chunks(batch))
            {
                // A padded run's extra frames hold whatever its input last held (zeros at first): computed, never read.
                var plan = expert.Plan([[runBatch, .. x.Shape[1..]]]);
                plan.ReadOwnInputs();
                _dispatch.Gather(x.View, group, start, count, plan.Inputs[0].View, itemLength);
                Queue(plan);
                var y = Output(plan, "y", step.Experts![group.Expert].Onnx!);
                output = BlockOutput(pieces, output, [batch, .. y.Shape[1..]], step);
                _dispatch.Accumulate(y.View, group, start, count, output.View, y.Length / runBatch, sourceByFrame: false);
            }
        }
        return output!;
    }

    /// <summary>The block output, zeroed when first needed; later experts must give the same item shape.</summary>
    private DeviceTensor BlockOutput(StepPieces pieces, DeviceTensor? output, int[] shape, ManifestStep step)
    {
        if (output is not null)
        {
            if (!output.Shape.SequenceEqual(shape)) throw MoeStepWalker.ShapeMismatch(_file.Path, step, output.Shape, shape);
            return output;
        }
        var tensor = Pinned(Reserve(ref pieces.BlockOutput, shape.Aggregate(1L, (a, b) => a * b), $"output of step '{step.Name}'"), shape);
        tensor.View.MemSetToZero();
        return tensor;
    }

    /// <summary>Queues the launches of the graph's plan for the inputs' shapes, reading the inputs where they lie (no
    /// copy); the outputs stay on the device until the plan runs again (each piece runs once per batch).</summary>
    private ExecutionPlan Enqueue(DeviceGraph graph, IReadOnlyList<DeviceTensor> inputs)
    {
        var plan = graph.Plan(inputs.Select(t => t.Shape).ToList());
        plan.ReadInputsFrom(inputs);
        Queue(plan);
        return plan;
    }

    private void Queue(ExecutionPlan plan)
    {
        plan.Enqueue();
        _runFlops += plan.Steps.Flops;
    }

    private DeviceTensor Output(ExecutionPlan plan, string name, string entry) =>
        plan.Outputs.First(o => o.Name == name).Value.Device
        ?? throw new InvalidModelException($"'{_file.Path}:{entry}': output '{name}' is a constant; the ILGPU engine expects it computed from the input");

    private static NamedTensor Download(string name, DeviceTensor tensor)
    {
        var values = new float[tensor.Length];
        DeviceMemory.Download(tensor.View, values);
        return new NamedTensor(name, values, tensor.Shape);
    }

    private static DeviceTensor Pinned(ArrayView<float> view, int[] shape) =>
        new(shape, new Storage(view.Length, -1) { Pinned = true, View = view }, isInteger: false);

    /// <summary>The first <paramref name="length"/> values of a buffer kept between batches, regrown when too small.</summary>
    private ArrayView<float> Reserve(ref MemoryBuffer1D<float, Stride1D.Dense>? buffer, long length, string purpose)
    {
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = null;
            buffer = DeviceMemory.Allocate(Accelerator, Math.Max(1, length), purpose);
        }
        return buffer.View.SubView(0, length);
    }

    public void Dispose()
    {
        _device.BindToThisThread();
        foreach (var pieces in _pieces.Values) pieces.Dispose();
        _input?.Dispose();
        _logits?.Dispose();
        if (_canvases is { IsValueCreated: true }) _canvases.Value.Dispose();
        _dispatch?.Dispose();
        _device.Dispose();
    }

    /// <summary>One manifest step on the device: the segment's graph or the MoE block's router, the block's experts
    /// (null = identity), and the block output kept between batches for when its frames chose different experts.</summary>
    private sealed class StepPieces(DeviceGraph graph) : IDisposable
    {
        public DeviceGraph Graph { get; } = graph;
        public List<DeviceGraph?> Experts { get; } = [];
        public MemoryBuffer1D<float, Stride1D.Dense>? BlockOutput;

        public long IntermediateBytes => Graph.IntermediateBytes + Experts.Sum(e => e?.IntermediateBytes ?? 0);

        public void Dispose()
        {
            Graph.Dispose();
            foreach (var expert in Experts) expert?.Dispose();
            BlockOutput?.Dispose();
        }
    }
}

/// <summary>One piece of a routed model (segment, router or expert) at one plan's input shapes, its launches timed
/// alone (<see cref="MoeIlgpuEngine.ProfilePlans"/>).</summary>
internal sealed record PieceProfile(string Piece, string InputShapes, List<StepTime> Steps);
