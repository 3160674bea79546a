namespace MoeDetect.Model.Ilgpu.Moe;

/// <summary>One ONNX piece of a <c>.moedet</c> model (segment, router or expert) on the device: parsed, checked and
/// fused once; a plan per input shape (in practice per batch size) built on first use and kept. Each piece has its
/// own constant cache because pieces reuse initializer names.</summary>
internal sealed class DeviceGraph(OnnxGraph graph, KernelLibrary kernels) : IDisposable
{
    private readonly ConstantCache _constants = new(kernels.Accelerator);
    private readonly Dictionary<string, ExecutionPlan> _plans = [];

    public static DeviceGraph Load(byte[] onnx, string label, KernelLibrary kernels, IReadOnlyList<string>? outputNames) =>
        new(IlgpuEngine.PrepareGraph(onnx, label, outputNames, severalInputs: true), kernels);

    public IReadOnlyList<string> InputNames => graph.Inputs.Select(i => i.Name).ToList();
    public IReadOnlyList<string> OutputNames => graph.OutputNames;

    /// <summary>The plan for inputs of these shapes (in <see cref="InputNames"/> order).</summary>
    public ExecutionPlan Plan(IReadOnlyList<int[]> inputShapes)
    {
        string key = string.Join(";", inputShapes.Select(s => string.Join(",", s)));
        if (_plans.TryGetValue(key, out var plan)) return plan;
        try
        {
            plan = OperatorCompiler.BuildForInputs(graph, kernels, _constants, inputShapes);
        }
        catch (DeviceOutOfMemoryException e)
        {
            throw new DeviceOutOfMemoryException($"batch {inputShapes[0][0]} of '{graph.InputName}' does not fit on {kernels.Accelerator.Name}: " +
                $"{e.Message}; try a smaller --batch", e);
        }
        return _plans[key] = plan;
    }

    /// <summary>The plans built so far, each with its input shapes ("n,c,h,w;…").</summary>
    public IEnumerable<(string InputShapes, ExecutionPlan Plan)> Plans => _plans.Select(p => (p.Key, p.Value));

    /// <summary>Device memory the plans built so far keep for intermediate tensors.</summary>
    public long IntermediateBytes => _plans.Values.Sum(p => p.IntermediateBytes);

    public void Dispose()
    {
        foreach (var plan in _plans.Values) plan.Dispose();
        _constants.Dispose();
    }
}
