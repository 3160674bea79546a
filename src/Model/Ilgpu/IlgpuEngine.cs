using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Where the ILGPU engine runs: an NVIDIA GPU through CUDA, or ILGPU's CPU accelerator (slow; it runs the
/// same kernels and exists so the engine can be tested without a GPU).</summary>
public enum IlgpuTarget { Cuda, CpuAccelerator }

/// <summary>No CUDA device is usable; the caller decides whether to fall back to the CPU engine.</summary>
public sealed class GpuUnavailableException(string message, Exception? inner = null) : MoeDetectException(message, inner);

/// <summary>Runs an ONNX detector graph with the project's own ILGPU kernels (FP32). The graph is parsed and checked
/// at load (an unsupported operator fails here, naming it), BatchNorm and activations are fused into convolutions,
/// and for each batch size a plan (kernel launches over reused memory) is built once and kept.</summary>
public sealed class IlgpuEngine : IInferenceEngine
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly KernelLibrary _kernels;
    private readonly ConstantCache _constants;
    private readonly OnnxGraph _graph;
    private readonly Dictionary<int, ExecutionPlan> _plans = new();
    private DeviceLetterbox? _letterbox;

    private IlgpuEngine(Context context, Accelerator accelerator, OnnxGraph graph, int maxBatch)
    {
        _context = context;
        _accelerator = accelerator;
        _graph = graph;
        _kernels = new KernelLibrary(accelerator);
        _constants = new ConstantCache(accelerator);
        MaxBatch = maxBatch;
        Name = accelerator.AcceleratorType == AcceleratorType.Cuda ? $"ilgpu-cuda ({accelerator.Name})" : "ilgpu-cpu";
    }

    /// <summary>Loads <paramref name="onnx"/> for <paramref name="target"/>. Throws <see cref="InvalidModelException"/>
    /// (<see cref="UnsupportedOperatorException"/> for an operator it cannot run) or <see cref="GpuUnavailableException"/>.</summary>
    public static IlgpuEngine Load(byte[] onnx, string modelLabel, IlgpuTarget target, int maxBatch = 64)
    {
        var graph = OnnxGraph.Parse(onnx, modelLabel);
        GraphFusion.Apply(graph);
        var (context, accelerator) = Open(target);
        return new IlgpuEngine(context, accelerator, graph, maxBatch);
    }

    private static (Context, Accelerator) Open(IlgpuTarget target)
    {
        if (target == IlgpuTarget.CpuAccelerator)
        {
            // One thread per core and the smallest warp (2 lanes): the kernels use no warp or group intrinsics, and ILGPU's
            // default CPU device (several simulated lanes per core) spends most of its time synchronising them.
            var device = new CPUDevice(2, 1, Environment.ProcessorCount);
            var cpu = Context.Create(b => b.CPU(device).EnableAlgorithms());
            return (cpu, cpu.CreateCPUAccelerator(0, CPUAcceleratorMode.Parallel));
        }
        Context context;
        try
        {
            context = Context.Create(b => b.Cuda().EnableAlgorithms());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new GpuUnavailableException($"--engine ilgpu: CUDA could not be initialised ({e.GetType().Name}: {e.Message.Split('\n')[0]}); use --device cpu", e);
        }
        var devices = context.GetCudaDevices();
        if (devices.Count == 0)
        {
            context.Dispose();
            throw new GpuUnavailableException("--engine ilgpu: no NVIDIA GPU with a CUDA driver was found; use --device cpu or check the driver (nvidia-smi)");
        }
        return (context, devices[0].CreateAccelerator(context));
    }

    public string Name { get; }
    public int MaxBatch { get; }

    /// <summary>Device memory of the accelerator in bytes (for messages and planning).</summary>
    public long DeviceMemoryBytes => _accelerator.MemorySize;

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize) =>
        Plan(batchSize, input.Length).Run(view => DeviceMemory.Upload(view, input.Span));

    /// <summary>Preprocesses decoded frames on the device straight into the network input and runs the batch;
    /// only the frames' bytes cross the bus. The letterboxes map boxes back to each frame.</summary>
    public (EngineOutput Output, LetterboxTransform[] Letterboxes) RunImages(IReadOnlyList<BgrImage> images, InputSpec spec)
    {
        var letterbox = Letterbox(spec);
        LetterboxTransform[] letterboxes = [];
        var output = Plan(images.Count, images.Count * spec.ValuesPerImage).Run(view => letterboxes = letterbox.Fill(images, view));
        return (output, letterboxes);
    }

    /// <summary>Only the preprocessing of <see cref="RunImages"/>, downloaded (for checks against the CPU path).</summary>
    public float[] Preprocess(IReadOnlyList<BgrImage> images, InputSpec spec, out LetterboxTransform[] letterboxes)
    {
        var values = new float[images.Count * spec.ValuesPerImage];
        using var buffer = DeviceMemory.Allocate(_accelerator, Math.Max(1, values.Length), "preprocessed frames");
        letterboxes = Letterbox(spec).Fill(images, buffer.View);
        _accelerator.Synchronize();
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
                plan = OperatorCompiler.Build(_graph, _kernels, _constants, shape);
            }
            catch (DeviceOutOfMemoryException e)
            {
                throw new DeviceOutOfMemoryException($"batch {batchSize} does not fit on {_accelerator.Name}: {e.Message}; try --batch {Math.Max(1, batchSize / 2)}", e);
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
        foreach (var plan in _plans.Values) plan.Dispose();
        _letterbox?.Dispose();
        _constants.Dispose();
        _accelerator.Dispose();
        _context.Dispose();
    }
}
