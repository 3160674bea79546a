using ILGPU;
using ILGPU.Runtime;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Turns the graph into an <see cref="ExecutionPlan"/> for one input shape: walks the nodes in topological
/// order, folds what is known on the host (constants, shape arithmetic), and for everything else records kernel
/// launches over tensors whose memory the plan assigns at the end. Each operator family lives in its own part.</summary>
internal sealed partial class OperatorCompiler
{
    private readonly OnnxGraph _graph;
    private readonly KernelLibrary _kernels;
    private readonly ConstantCache _constants;
    private readonly Dictionary<string, Value> _values = new();
    /// <summary>Contiguous copies of strided tensors, by value name (<see cref="Get(string)"/>).</summary>
    private readonly Dictionary<string, DeviceTensor> _contiguous = new();
    /// <summary>Per value name: how many node inputs compiled so far read its data, and how many of those read it where it
    /// lies, whatever its image stride (channel ranges taken of it, GEMM inputs and residuals): a Concat may then still
    /// place it (<see cref="MayMove"/>).</summary>
    private readonly Dictionary<string, int> _dataReadsSoFar = new(), _inPlaceReads = new();
    /// <summary>The value names of the tensors channel ranges were taken of.</summary>
    private readonly Dictionary<DeviceTensor, string> _rangeWholes = new();
    private readonly List<PlanStep> _steps = new();
    /// <summary>Float values that hold whole numbers (Floor, Ceil, Round outputs): a Cast to an integer type relabels them.</summary>
    private readonly HashSet<string> _wholeNumbers = new();
    private readonly List<Storage> _storages = new();
    private readonly List<MemoryBuffer> _planOwned = new();
    private GraphNode _node = null!;

    private OperatorCompiler(OnnxGraph graph, KernelLibrary kernels, ConstantCache constants)
    {
        _graph = graph;
        _kernels = kernels;
        _constants = constants;
    }

    private Accelerator Accelerator => _kernels.Accelerator;

    private Dictionary<string, int>? _dataReaders;
    /// <summary>How many node inputs read each value's data: a Shape node reads only its shape, which the plan knows
    /// (PyTorch exports with a dynamic batch compute a chunk's size from its input's shape).</summary>
    private Dictionary<string, int> DataReaders => _dataReaders ??= _graph.DataReaderCounts();


    public static ExecutionPlan Build(OnnxGraph graph, KernelLibrary kernels, ConstantCache constants, int[] inputShape,
        Action<string>? warn = null) =>
        BuildForInputs(graph, kernels, constants, [inputShape], warn);

    /// <summary>A plan for a graph with several inputs (an MoE segment): one shape per <see cref="OnnxGraph.Inputs"/> entry.</summary>
    public static ExecutionPlan BuildForInputs(OnnxGraph graph, KernelLibrary kernels, ConstantCache constants, IReadOnlyList<int[]> inputShapes,
        Action<string>? warn = null)
    {
        var compiler = new OperatorCompiler(graph, kernels, constants);
        try
        {
            return compiler.Compile(inputShapes, warn ?? (_ => { }));
        }
        catch
        {
            foreach (var buffer in compiler._planOwned) buffer.Dispose();
            throw;
        }
    }

    private ExecutionPlan Compile(IReadOnlyList<int[]> inputShapes, Action<string> warn)
    {
        var inputs = inputShapes.Select(shape => new DeviceTensor(shape, Own(Elements(shape)), isInteger: false)).ToList();
        // Zeros until first written: an MoE expert's padded run computes on input frames nothing wrote. Waited for, since
        // inputs are written from other streams (uploads on the accelerator's default one).
        foreach (var input in inputs) input.View.MemSetToZero(_kernels.Stream);
        _kernels.Stream.Synchronize();
        for (int i = 0; i < inputs.Count; i++) _values[_graph.Inputs[i].Name] = inputs[i];
        foreach (var node in _graph.Nodes)
        {
            _node = node;
            if (node.ReadsData)
                foreach (var input in node.Inputs.Where(i => i.Length > 0)) _dataReadsSoFar[input] = _dataReadsSoFar.GetValueOrDefault(input) + 1;
            int firstStep = _steps.Count, firstStorage = _storages.Count;
            CompileNode(node);
            NoteMemory(firstStep, _storages.Skip(firstStorage).ToArray());
        }
        var outputs = new List<(string, Value)>();
        foreach (var name in _graph.OutputNames)
        {
            var value = Get(name);
            if (value.Device is { } t) t.Storage.LastStep = int.MaxValue;
            outputs.Add((name, value));
        }
        long intermediate = MemoryPlan.Assign(_storages, Accelerator, _planOwned, new SlotReuse(_steps.Select(s => s.Memory).ToList()));
        var steps = new StepSequence(_steps, _kernels.Stream, warn);
        return new ExecutionPlan(Accelerator, _kernels.Stream, inputs[0], steps, outputs, _planOwned, intermediate * sizeof(float)) { Inputs = inputs, Placed = _storages.Where(s => s.Parent is not null).ToList() };
    }

    private void CompileNode(GraphNode node)
    {
        switch (node.OpType)
        {
            case "Conv": Convolution(); break;
            case "MaxPool": Pool(Kernels.Tensors.PoolMode.Max); break;
            case PeakFusion.Peaks: Peaks(); break;
            case DistanceBoxFusion.Boxes: DistanceBoxes(); break;
            case SqueezeFusion.SqueezeMlp: Squeeze(); break;
            case "AveragePool": Pool(node.Int("count_include_pad", 0) != 0 ? Kernels.Tensors.PoolMode.AverageIncludingPad : Kernels.Tensors.PoolMode.Average); break;
            case "GlobalAveragePool": GlobalPool(Kernels.Tensors.ReduceMode.Mean); break;
            case "GlobalMaxPool": GlobalPool(Kernels.Tensors.ReduceMode.Max); break;
            case "BatchNormalization": BatchNormalization(); break;
            case "ReduceMean": Reduce(Kernels.Tensors.ReduceMode.Mean); break;
            case "ReduceSum": Reduce(Kernels.Tensors.ReduceMode.Sum); break;
            case "ReduceMax": Reduce(Kernels.Tensors.ReduceMode.Max); break;
            case "MatMul": MatMul(); break;
            case "Gemm": Gemm(); break;
            case "Softmax": Softmax(); break;
            case "Resize" or "Upsample": Resize(); break;
            case "TopK": TopK(); break;
            case "Shape": Shape(); break;
            case "Reshape" or "Flatten" or "Squeeze" or "Unsqueeze" or "Identity" or "Dropout": Reshape(); break;
            case "Cast": Cast(); break;
            case "Transpose": Transpose(); break;
            case "Concat": Concat(); break;
            case "Split": Split(); break;
            case "Slice": Slice(); break;
            case "Expand": Expand(); break;
            case "Pad": Pad(); break;
            case "Gather": Gather(); break;
            case "Where": Where(); break;
            case "GatherElements": GatherElements(); break;
            case "Not" or "And" or "Or" or "Xor": Logic(); break;
            case "ConstantOfShape" or "Range": Set(0, ShapeFolding.Generate(node, HostInput(0), node.Input(1) is null ? null : HostInput(1), node.Input(2) is null ? null : HostInput(2))); break;
            default: Elementwise(); break;
        }
    }

    /// <summary>Shape, with opset 15's start/end (negative counts from the end, clamped to the rank).</summary>
    private void Shape()
    {
        var shape = Get(0).Shape;
        int Clamp(long v) => (int)Math.Clamp(v < 0 ? v + shape.Length : v, 0, shape.Length);
        int start = Clamp(_node.Int("start", 0)), end = Clamp(_node.Int("end", shape.Length));
        Set(0, HostTensor.Integers(shape[start..Math.Max(start, end)].Select(d => (long)d)));
    }

    // ---- values -------------------------------------------------------------------------------------------------

    private Value Get(int input) => Get(InputName(input));

    private string InputName(int input) => _node.Input(input) ?? throw Invalid($"input {input} is missing");

    /// <summary>The value, contiguous: a strided one (<see cref="DeviceTensor.IsStrided"/>) is copied out once, where its
    /// first reader that cannot take an image stride needs it.</summary>
    private Value Get(string name)
    {
        var value = Lookup(name);
        if (value.Device is not { IsStrided: true } strided) return value;
        if (!_contiguous.TryGetValue(name, out var copy))
        {
            _contiguous[name] = copy = NewTensor(strided.Shape, strided.IsInteger);
            EmitStridedCopy(strided, copy, copy.Length / strided.Shape[0], 0, Kernels.Tensors.Activation.None);
        }
        return copy;
    }

    /// <summary>The value as it lies, perhaps strided: for readers that take an image stride, which say so
    /// (<see cref="NoteInPlaceRead"/>).</summary>
    private Value GetInPlace(int input) => Lookup(InputName(input));

    private void NoteInPlaceRead(string name) => _inPlaceReads[name] = _inPlaceReads.GetValueOrDefault(name) + 1;

    private Value Lookup(string name)
    {
        if (_values.TryGetValue(name, out var v)) return v;
        if (_graph.Constants.TryGetValue(name, out var c)) return c;
        throw new InvalidModelException($"value '{name}' used by {_node.Label} is produced by no node, initializer or input");
    }

    private HostTensor HostInput(int input) => Get(input).Host
        ?? throw Invalid($"input {input} ('{_node.Inputs[input]}') must be a constant or computable from shapes; it depends on the image");

    private void Set(int output, Value value)
    {
        if (output < _node.Outputs.Count && _node.Outputs[output].Length > 0) _values[_node.Outputs[output]] = value;
    }

    /// <summary>The value as a device tensor: host constants are uploaded (graph constants once per engine).</summary>
    private DeviceTensor Device(Value v, string? name = null)
    {
        if (v.Device is { } d) return d;
        var host = v.Host!;
        if (name is not null && _graph.Constants.TryGetValue(name, out var constant) && ReferenceEquals(constant, host))
            return _constants.Upload(name, host);
        var storage = Own(host.Data.Length);
        DeviceMemory.Upload(storage.View, host.ToFloats());
        return new DeviceTensor(host.Shape, storage, host.IsInteger);
    }

    private DeviceTensor DeviceInput(int input) => Device(Get(input), _node.Input(input));

    /// <summary>A new tensor the next emitted step writes; its memory comes from the plan's reusable slots.
    /// <paramref name="placement"/>: where its producer can write it into a Concat's output instead.</summary>
    private DeviceTensor NewTensor(int[] shape, bool isInteger = false, OutputPlacement? placement = null)
    {
        var storage = new Storage(Math.Max(1, shape.Aggregate(1L, (a, b) => a * b)), _steps.Count);
        _storages.Add(storage);
        return new DeviceTensor(shape, storage, isInteger) { Placement = placement };
    }

    /// <summary>Memory the plan keeps for its lifetime (input, uploaded per-plan constants).</summary>
    private Storage Own(long length)
    {
        var buffer = DeviceMemory.Allocate(Accelerator, Math.Max(1, length), $"plan for input {_graph.InputName}");
        _planOwned.Add(buffer);
        return new Storage(length, -1) { Pinned = true, View = buffer.View };
    }

    /// <summary>Appends a launch; the tensors it touches stay alive at least until it has run.</summary>
    private void Emit(Action launch, params DeviceTensor[] touched) => Append(new PlanStep(launch, _node.OpType, _node.Name), touched);

    /// <summary>A launch that profiles should tell apart from others of its operator (which convolution kernel, what
    /// shape, how much arithmetic).</summary>
    private void EmitKind(string kind, string detail, double flops, Action launch, params DeviceTensor[] touched) =>
        Append(new PlanStep(launch, $"{_node.OpType} {kind}", $"{_node.Name} ({detail})", flops), touched);

    private void Append(PlanStep planStep, DeviceTensor[] touched)
    {
        int step = _steps.Count;
        // Everything it touches counts as read until its node is compiled (NoteMemory).
        _steps.Add(planStep with { Memory = new StepMemory(touched.Select(t => t.Storage).Distinct().ToArray(), []) });
        foreach (var t in touched) t.Storage.LastStep = Math.Max(t.Storage.LastStep, step);
    }

    /// <summary>The memory of a node's steps: each writes every tensor the node made (outputs, copies, workspaces; a
    /// node's steps so wait for each other) and reads the rest it touches. No step writes a tensor an earlier node made.</summary>
    private void NoteMemory(int firstStep, Storage[] made)
    {
        for (int step = firstStep; step < _steps.Count; step++)
            _steps[step] = _steps[step] with { Memory = new StepMemory(_steps[step].Memory.Reads.Except(made).ToArray(), made) };
    }

    private InvalidModelException Invalid(string problem) => new($"{_node.Label}: {problem}");

    private static int Elements(int[] shape) => shape.Aggregate(1, (a, b) => a * b);

    private static int Axis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);
}
