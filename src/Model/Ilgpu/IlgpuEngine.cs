using System.Buffers;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Runs an ONNX detector graph with the project's own ILGPU kernels (FP32). The graph is parsed and checked
/// at load (an unsupported operator fails here, naming it), BatchNorm and activations are fused into convolutions,
/// and for each batch size a plan (kernel launches over reused memory) is built once and kept.</summary>
public sealed class IlgpuEngine : IInferenceEngine
{
    private readonly IlgpuDevice _device;
    private readonly KernelLibrary _kernels;
    private readonly ConstantCache _constants;
    private readonly OnnxGraph _graph;
    private readonly Dictionary<int, ExecutionPlan> _plans = new();
    private readonly bool _fixedBatchOfOne;
    /// <summary>The graph's NHWC input is read channels first (<see cref="InputTransposeFolding"/>): written so.</summary>
    private readonly bool _inputChannelsFirst;
    private readonly Action<string> _warn;
    private DeviceLetterbox? _letterbox;

    private IlgpuEngine(IlgpuDevice device, OnnxGraph graph, int maxBatch, Action<string>? warn)
    {
        _device = device;
        var accelerator = device.Accelerator;
        _graph = graph;
        _inputChannelsFirst = InputTransposeFolding.Apply(graph);
        _warn = warn ?? (_ => { });
        _kernels = new KernelLibrary(accelerator, device.Stream, _warn);
        _kernels.Tuner = LaunchTuner.ForDevice(_kernels, _warn);
        _kernels.PlansEmulatedTensorCores = device.EmulatesTensorCores;
        _constants = new ConstantCache(accelerator);
        MaxBatch = maxBatch;
        _fixedBatchOfOne = graph.InputShape.FirstOrDefault() == 1;
        Name = accelerator.AcceleratorType == AcceleratorType.Cuda ? $"ilgpu-cuda ({accelerator.Name})" : "ilgpu-cpu";
    }

    /// <summary>Loads <paramref name="onnx"/> for <paramref name="target"/>. Throws <see cref="InvalidModelException"/>
    /// (<see cref="UnsupportedOperatorException"/> for an operator it cannot run) or <see cref="GpuUnavailableException"/>.</summary>
    public static IlgpuEngine Load(byte[] onnx, string modelLabel, IlgpuTarget target, int maxBatch = 64,
        IReadOnlyList<string>? outputNames = null, Action<string>? warn = null)
    {
        var graph = PrepareGraph(onnx, modelLabel, outputNames);
        return new IlgpuEngine(IlgpuDevice.Open(target), graph, maxBatch, warn);
    }

    /// <summary>Parses, checks and fuses a graph, keeping only <paramref name="outputNames"/> (all outputs when null).
    /// <paramref name="severalInputs"/> admits graphs with more than one input (MoE segments).</summary>
    internal static OnnxGraph PrepareGraph(byte[] onnx, string modelLabel, IReadOnlyList<string>? outputNames, bool severalInputs = false)
    {
        var graph = OnnxGraph.Parse(onnx, modelLabel, severalInputs);
        // Pads whose amounts a constant subgraph computes (PyTorch's F.pad for TensorFlow-style "same" padding: the
        // ES-MoE pieces hold 47) would each copy their feature map; after ONNX Runtime's constant folding
        // (PadFolding) they fold into their windows, as on the ONNX Runtime engines.
        if (graph.Nodes.Any(n => n.OpType == "Pad" && n.Input(1) is { } pads && !graph.Constants.ContainsKey(pads)))
            graph = OnnxGraph.Parse(PadFolding.Apply(onnx), modelLabel, severalInputs);
        if (outputNames is not null)
        {
            var missing = outputNames.Except(graph.OutputNames).ToList();
            if (missing.Count > 0)
                throw new InvalidModelException($"'{modelLabel}' has no output {string.Join(", ", missing)} (outputs: {string.Join(", ", graph.OutputNames)})");
            graph.OutputNames = outputNames.ToList();
        }
        GraphFusion.Apply(graph);
        // After the rewrites: an operator they remove (a Pad folded into a Conv) need not run.
        OperatorSupport.Check(graph);
        return graph;
    }

    /// <summary>The engine for <c>--engine ilgpu</c> on <paramref name="request"/>'s device: with <c>--device gpu</c> a
    /// missing CUDA device is an error; with <c>auto</c> it is a warning and null, so the caller uses its CPU engine.
    /// Only <paramref name="outputNames"/> (the decoder's tensors) are computed and downloaded.</summary>
    public static IlgpuEngine? ForRequest(byte[] onnx, string modelLabel, EngineRequest request, IReadOnlyList<string> outputNames)
    {
        try
        {
            return Load(onnx, modelLabel, IlgpuTarget.Cuda, outputNames: outputNames, warn: request.Warn);
        }
        catch (GpuUnavailableException e) when (request.Device == ComputeDevice.Auto)
        {
            request.Warn?.Invoke($"warning: {e.Message}; running on the CPU");
            return null;
        }
    }

    public string Name { get; }
    public int MaxBatch { get; }

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize)
    {
        int perItem = input.Length / Math.Max(1, batchSize);
        return RunBatch(batchSize, input.Length, (view, first, count) => Upload(view, input.Span.Slice(first * perItem, count * perItem)));
    }

    /// <summary>Host values of the input, laid out as the model describes it, into the plan's input.</summary>
    private void Upload(ArrayView<float> view, ReadOnlySpan<float> values)
    {
        if (!_inputChannelsFirst)
        {
            DeviceMemory.Upload(view, values);
            return;
        }
        var channelsFirst = ArrayPool<float>.Shared.Rent(values.Length);
        try
        {
            var nchw = channelsFirst.AsSpan(0, values.Length);
            InputTransposeFolding.ToChannelsFirst(values, nchw, _graph.InputShape[1] * _graph.InputShape[2]);
            DeviceMemory.Upload(view, nchw);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(channelsFirst);
        }
    }

    /// <summary>spec as the device preprocessing writes this engine's input: channels first where the graph reads it so.</summary>
    private InputSpec DeviceSpec(InputSpec spec) => _inputChannelsFirst ? spec with { Layout = TensorLayout.Nchw } : spec;

    /// <summary>Preprocesses decoded frames on the device straight into the network input and runs the batch;
    /// only the frames' bytes cross the bus. The letterboxes map boxes back to each frame.</summary>
    public (EngineOutput Output, LetterboxTransform[] Letterboxes) RunImages(IReadOnlyList<BgrImage> images, InputSpec spec) =>
        RunImages(images, spec, static (letterbox, batch, view) => letterbox.Fill(batch, view));

    /// <summary>As <see cref="RunImages(IReadOnlyList{BgrImage}, InputSpec)"/> for 4:2:0 frames (NV12, I420), as
    /// decoders give them: half the bytes of BGR cross the bus, and the colour conversion runs on the device.</summary>
    public (EngineOutput Output, LetterboxTransform[] Letterboxes) RunImages(IReadOnlyList<Yuv420Image> images, InputSpec spec) =>
        RunImages(images, spec, static (letterbox, batch, view) => letterbox.Fill(batch, view));

    private (EngineOutput Output, LetterboxTransform[] Letterboxes) RunImages<TImage>(IReadOnlyList<TImage> images, InputSpec spec,
        Func<DeviceLetterbox, IReadOnlyList<TImage>, ArrayView<float>, LetterboxTransform[]> fill)
    {
        _device.BindToThisThread();
        var letterbox = Letterbox(DeviceSpec(spec));
        var letterboxes = new LetterboxTransform[images.Count];
        var output = RunBatch(images.Count, images.Count * spec.ValuesPerImage, (view, first, count) =>
            fill(letterbox, images.Skip(first).Take(count).ToList(), view).CopyTo(letterboxes, first));
        return (output, letterboxes);
    }

    /// <summary>Page-locked staging (<paramref name="slots"/> slots) and device room for <paramref name="capacity"/>
    /// canvases of <paramref name="spec"/>, on this engine's accelerator and stream.</summary>
    internal DeviceCanvases Canvases(InputSpec spec, int capacity, int slots)
    {
        _device.BindToThisThread();
        return new DeviceCanvases(_kernels, DeviceSpec(spec), capacity, slots);
    }

    /// <summary>Graphs exported with a fixed batch of 1 (their reshapes may bake the 1 in) run item by item through
    /// the batch-1 plan, each item's outputs landing in its rows of the batch's tensors; graphs with a free batch run
    /// the batch in one plan. The outputs go into <paramref name="reuse"/> where its tensors have the batch's shapes
    /// (a caller's tensors from an earlier run, which it has finished reading), into new tensors otherwise.</summary>
    internal EngineOutput RunBatch(int batchSize, int inputLength, Action<ArrayView<float>, int, int> writeInput,
        IReadOnlyList<NamedTensor>? reuse = null)
    {
        _device.BindToThisThread();
        int planBatch = _fixedBatchOfOne ? 1 : batchSize;
        bool itemByItem = planBatch != batchSize;
        var plan = Plan(planBatch, inputLength / batchSize * planBatch);
        var tensors = OutputTensors(plan, batchSize, itemByItem, reuse);
        var timings = EngineTimings.Zero;
        for (int first = 0; first < batchSize; first += planBatch)
        {
            int item = first;
            var rows = tensors.Select(t => itemByItem ? t.Data.AsMemory(item * t.ElementsPerItem, t.ElementsPerItem) : t.Data.AsMemory()).ToList();
            var run = plan.Run(view => writeInput(view, item, planBatch), rows);
            timings = timings.Plus(run);
        }
        return new EngineOutput(tensors, null, timings);
    }

    /// <summary>Whether a batch of <paramref name="batchSize"/> can be queued (<see cref="QueueBatch"/>): its plan runs the
    /// whole batch at once (not a fixed-batch-1 graph run item by item).</summary>
    internal bool QueuesBatch(int batchSize) => !_fixedBatchOfOne || batchSize == 1;

    /// <summary>Queues a batch whose outputs <see cref="CollectBatch"/> gathers later, into output slot
    /// <paramref name="slot"/> (<see cref="ExecutionPlan.Queue"/>), and returns without waiting.</summary>
    internal QueuedRun QueueBatch(int batchSize, int inputLength, Action<ArrayView<float>, int, int> writeInput, int slot)
    {
        if (!QueuesBatch(batchSize)) throw new InvalidOperationException($"{Name} runs a batch of {batchSize} item by item; it cannot be queued");
        _device.BindToThisThread();
        return Plan(batchSize, inputLength).Queue(view => writeInput(view, 0, batchSize), slot);
    }

    /// <summary>Waits for a queued batch and gathers its outputs, into <paramref name="reuse"/> where its shapes fit; any
    /// thread may call it.</summary>
    internal EngineOutput CollectBatch(QueuedRun run, IReadOnlyList<NamedTensor>? reuse = null)
    {
        _device.BindToThisThread();
        var tensors = OutputTensors(run.Plan, run.Plan.Inputs[0].Shape[0], itemByItem: false, reuse);
        return new EngineOutput(tensors, null, run.Plan.Collect(run, tensors.Select(t => t.Data.AsMemory()).ToList()));
    }

    /// <summary>Tensors for a batch of the plan's outputs (<paramref name="itemByItem"/>: the batch-1 plan's, stacked):
    /// <paramref name="reuse"/> when its shapes fit, new ones otherwise.</summary>
    private static IReadOnlyList<NamedTensor> OutputTensors(ExecutionPlan plan, int batchSize, bool itemByItem, IReadOnlyList<NamedTensor>? reuse)
    {
        var shapes = plan.Outputs.Select(o => itemByItem ? [batchSize, .. o.Value.Shape.Skip(1)] : o.Value.Shape).ToList();
        if (reuse is not null && reuse.Count == shapes.Count && reuse.Zip(shapes).All(p => p.First.Shape.SequenceEqual(p.Second)))
            return reuse;
        return plan.Outputs.Zip(shapes, (o, shape) => new NamedTensor(o.Name,
            GC.AllocateUninitializedArray<float>(shape.Aggregate(1, (a, d) => a * d)), shape)).ToList();
    }

    /// <summary>What a run of <paramref name="batchSize"/> does on the device (the plan is built if it is not yet):
    /// graph-level counts after load-time rewriting, and per run the kernel launches and the driver calls that start
    /// device work (one once the plan replays its CUDA graph): no host work between launches. Fixed-batch-1 graphs run the
    /// batch item by item, so their counts are per item times <see cref="IlgpuPlanSummary.PlanRunsPerBatch"/>.</summary>
    public IlgpuPlanSummary Summary(int batchSize)
    {
        var steps = PlanOf(batchSize).Steps;
        return new IlgpuPlanSummary(_graph.Nodes.Count, _graph.Nodes.Count(n => n.OpType == "Transpose"), steps.Launches,
            steps.DeviceSubmissions, steps.UsesCudaGraphs, _fixedBatchOfOne ? batchSize : 1) { LongestChain = steps.LongestChain, ProgrammaticEdges = steps.ProgrammaticEdges };
    }

    /// <summary>Every kernel launch of the batch's plan timed alone (<see cref="StepSequence.Profile"/>), for
    /// <c>ilgpu-bench profile</c>: where a run's time goes, operator by operator.</summary>
    public List<StepTime> Profile(int batchSize, int iterations) => PlanOf(batchSize).Steps.Profile(_device.Accelerator.Synchronize, iterations);

    /// <summary>Median ms of the batch's plan run alone (its launches, or graph replays once captured, and one
    /// synchronisation; no copies in or out) over <paramref name="iterations"/> runs after three untimed ones.</summary>
    public double TimeEnqueued(int batchSize, int iterations)
    {
        var plan = PlanOf(batchSize);
        var samples = new double[iterations];
        for (int i = -3; i < iterations; i++)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            plan.Enqueue();
            _device.Accelerator.Synchronize();
            if (i >= 0) samples[i] = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(samples);
        return samples[iterations / 2];
    }

    /// <summary>The plan a batch of <paramref name="batchSize"/> runs (fixed-batch-1 graphs: the batch-1 plan), on this thread's context.</summary>
    private ExecutionPlan PlanOf(int batchSize)
    {
        _device.BindToThisThread();
        int planBatch = _fixedBatchOfOne ? 1 : batchSize;
        int perItem = _graph.InputShape.Skip(1).Aggregate(1, (a, d) => a * Math.Max(1, d));
        return Plan(planBatch, planBatch * perItem);
    }

    /// <summary>Only the preprocessing of <see cref="RunImages(IReadOnlyList{BgrImage}, InputSpec)"/>, downloaded (for
    /// checks against the CPU path).</summary>
    public float[] Preprocess(IReadOnlyList<BgrImage> images, InputSpec spec, out LetterboxTransform[] letterboxes) =>
        Preprocess(images, spec, static (letterbox, batch, view) => letterbox.Fill(batch, view), out letterboxes);

    /// <summary>Only the preprocessing of <see cref="RunImages(IReadOnlyList{Yuv420Image}, InputSpec)"/>, downloaded.</summary>
    public float[] Preprocess(IReadOnlyList<Yuv420Image> images, InputSpec spec, out LetterboxTransform[] letterboxes) =>
        Preprocess(images, spec, static (letterbox, batch, view) => letterbox.Fill(batch, view), out letterboxes);

    private float[] Preprocess<TImage>(IReadOnlyList<TImage> images, InputSpec spec,
        Func<DeviceLetterbox, IReadOnlyList<TImage>, ArrayView<float>, LetterboxTransform[]> fill, out LetterboxTransform[] letterboxes)
    {
        _device.BindToThisThread();
        var values = new float[images.Count * spec.ValuesPerImage];
        using var buffer = DeviceMemory.Allocate(_device.Accelerator, Math.Max(1, values.Length), "preprocessed frames");
        letterboxes = fill(Letterbox(spec), images, buffer.View);
        _device.Accelerator.Synchronize();
        DeviceMemory.Download(buffer.View, values);
        return values;
    }

    private DeviceLetterbox Letterbox(InputSpec spec)
    {
        if (_letterbox?.Spec != spec)
        {
            _letterbox?.Dispose();
            _letterbox = new DeviceLetterbox(_kernels, spec);
        }
        return _letterbox;
    }

    private ExecutionPlan Plan(int batchSize, int inputLength)
    {
        if (batchSize < 1 || batchSize > MaxBatch) throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch size {batchSize} is outside 1..{MaxBatch}");
        if (!_plans.TryGetValue(batchSize, out var plan))
        {
            var shape = InputShape(batchSize, inputLength);
            try
            {
                plan = OperatorCompiler.Build(_graph, _kernels, _constants, shape, _warn);
            }
            catch (DeviceOutOfMemoryException e)
            {
                throw new DeviceOutOfMemoryException($"batch {batchSize} does not fit on {_device.Accelerator.Name}: {e.Message}; try --batch {Math.Max(1, batchSize / 2)}", e);
            }
            _plans[batchSize] = plan;
        }
        return plan;
    }

    private int[] InputShape(int batchSize, int length)
    {
        var shape = (int[])_graph.InputShape.Clone();
        if (shape.Length == 0) throw new InvalidModelException($"input '{_graph.InputName}' has no declared shape");
        shape[0] = batchSize;
        if (shape.Skip(1).Any(d => d < 0))
            throw new InvalidModelException($"input '{_graph.InputName}' has free dimensions besides the batch: [{string.Join(",", _graph.InputShape)}]");
        int expected = shape.Aggregate(1, (a, b) => a * b);
        if (expected != length)
            throw new ArgumentException($"input holds {length} values; batch {batchSize} of [{string.Join(",", shape.Skip(1))}] needs {expected}");
        return shape;
    }

    public void Dispose()
    {
        _device.BindToThisThread();
        foreach (var plan in _plans.Values) plan.Dispose();
        _letterbox?.Dispose();
        _constants.Dispose();
        _device.Dispose();
    }
}

/// <summary>Counts for one plan (see <see cref="IlgpuEngine.Summary"/>); per run of the plan, which runs
/// <see cref="PlanRunsPerBatch"/> times per batch.</summary>
public sealed record IlgpuPlanSummary(int Nodes, int Transposes, int Launches, int DeviceSubmissions,
    bool CudaGraphs, int PlanRunsPerBatch)
{
    /// <summary>Launches on the plan's longest chain of waits (<see cref="StepSequence.LongestChain"/>); a CUDA graph
    /// runs the others beside it.</summary>
    public int LongestChain { get; init; }
    /// <summary>Graph edges along which a kernel starts while the one before it ends (<see cref="CudaGraph.ProgrammaticEdges"/>).</summary>
    public int ProgrammaticEdges { get; init; }

    public override string ToString() =>
        $"{Nodes} nodes ({Transposes} Transpose), {Launches} kernel launches per plan run ({LongestChain} on the longest chain of waits), " +
        $"{DeviceSubmissions} device submissions{(CudaGraphs ? $" (CUDA graphs, {ProgrammaticEdges} programmatic edges)" : "")}, {PlanRunsPerBatch} plan run(s) per batch";
}
