using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Engines;

/// <summary>Runs a <see cref="PixelInputGraph"/> with IOBinding: input and outputs are bound once to fixed buffers
/// in the session's memory (GPU or host), so a run is copy in → run → copy out, and with CUDA graphs enabled the
/// run itself is a replay. Graphs fixed at a batch of 1 run once per frame through the same buffers. The device work
/// (warm-up included) runs on the engine's own <see cref="EngineThread"/>, whatever thread calls it.</summary>
/// <remarks>The input is normally the <see cref="PixelInputGraph"/>'s 8-bit canvas; <see cref="BoundInput.Floats"/> binds
/// a graph's own float input instead, for timing ONNX Runtime alone (<see cref="RunAsBound"/>).</remarks>
public sealed class OrtBoundEngine : IPixelInputEngine
{
    // ONNX Runtime's CUDA EP runs twice normally, captures on the third run and replays from the fourth.
    private const int WarmupRuns = 4;

    private readonly InferenceSession _session;
    private readonly TensorMemory _memory;
    private readonly OrtIoBinding _binding;
    private readonly RunOptions _runOptions = new();
    private readonly EngineThread _thread = new("ort-bound-engine");
    private readonly List<OrtValue> _values = [];
    private readonly int _graphBatch;
    private readonly long _inputBytesPerItem;
    private readonly nint _input;
    /// <summary>Two page-locked staging slots, apart from the bound input, so either can be written while a run reads the other.</summary>
    private readonly nint[] _inputSlots = new nint[2];
    private readonly BoundOutput[] _outputs;
    /// <summary>Each slot's last output tensors, refilled by its next run of the same batch size: a fresh array per
    /// run (YOLOv8n's 1,000 candidate rows: 0.3 MB an image) lands on the large-object heap and costs a full
    /// collection every few batches.</summary>
    private readonly NamedTensor[]?[] _slotOutputs = new NamedTensor[2][];

    private sealed record BoundOutput(string Name, int[] Shape, long FloatsPerItem, nint Tensor, nint Staging)
    {
        public unsafe void CopyStagingTo(float[] data) => new ReadOnlySpan<float>((void*)Staging, data.Length).CopyTo(data);
    }

    /// <param name="graphBatch">The pixel graph's batch: <paramref name="maxBatch"/>, or 1 for graphs fixed at 1.</param>
    /// <param name="input">What is bound as the input; null: the pixel graph's 8-bit canvas.</param>
    public OrtBoundEngine(InferenceSession session, string name, IReadOnlyList<string> outputNames, InputSpec spec,
        int maxBatch, int graphBatch, TensorMemory memory, BoundInput? input = null)
    {
        _session = session;
        _memory = memory;
        Name = name;
        MaxBatch = maxBatch;
        _graphBatch = graphBatch;
        _binding = session.CreateIoBinding();
        try
        {
            input ??= BoundInput.Pixels(spec);
            _inputBytesPerItem = input.BytesPerItem;
            _input = memory.AllocateTensor(graphBatch * _inputBytesPerItem);
            for (int slot = 0; slot < _inputSlots.Length; slot++) _inputSlots[slot] = memory.AllocateStaging(maxBatch * _inputBytesPerItem);
            _binding.BindInput(input.Name, Track(OrtValue.CreateTensorValueWithData(memory.Info, input.Type,
                [graphBatch, .. input.ItemShape], _input, graphBatch * _inputBytesPerItem)));
            _outputs = _thread.Invoke(() => BindOutputs(outputNames));
            RunAsBound(WarmupRuns);
        }
        catch (Exception e) when (GpuOutOfMemory.Matches(e))
        {
            Dispose();
            throw GpuOutOfMemory.Error(maxBatch, e);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Name { get; }
    public int MaxBatch { get; }

    public Span<byte> PixelStaging => PixelSlot(0);

    public int PixelSlots => _inputSlots.Length;

    public unsafe Span<byte> PixelSlot(int slot) => new((void*)_inputSlots[slot], checked((int)(MaxBatch * _inputBytesPerItem)));

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize) =>
        throw new InvalidOperationException($"{Name} takes 8-bit canvases: fill PixelStaging and call RunPixels");

    public EngineOutput RunPixels(int batchSize) => RunPixelSlot(batchSize, 0);

    public EngineOutput RunPixelSlot(int batchSize, int slot) => StartPixelSlot(batchSize, slot).GetAwaiter().GetResult();

    /// <summary>Runs on the engine's thread, outputs copied out there too.</summary>
    public Task<EngineOutput> StartPixelSlot(int batchSize, int slot)
    {
        if (batchSize < 1 || batchSize > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch of {batchSize}; this engine takes 1 to {MaxBatch}");
        return _thread.Start(() => Output(batchSize, slot, RunOnDevice(batchSize, slot)));
    }

    /// <summary>The slot's output tensors, refilled from the staging; the copy counts as download.</summary>
    private EngineOutput Output(int batchSize, int slot, EngineTimings timings)
    {
        var clock = Stopwatch.StartNew();
        var tensors = SlotOutputs(slot, batchSize);
        for (int o = 0; o < _outputs.Length; o++) _outputs[o].CopyStagingTo(tensors[o].Data);
        return new EngineOutput(tensors, null, timings with { DownloadMs = timings.DownloadMs + clock.Elapsed.TotalMilliseconds });
    }

    /// <summary>Copy in, run, copy out into the outputs' staging, per graph batch.</summary>
    private EngineTimings RunOnDevice(int batchSize, int slot)
    {
        double upload = 0, inference = 0, download = 0;
        var clock = new Stopwatch();
        try
        {
            for (int first = 0; first < batchSize; first += _graphBatch)
            {
                int items = Math.Min(_graphBatch, batchSize - first);
                clock.Restart();
                _memory.CopyIn(_inputSlots[slot] + (nint)(first * _inputBytesPerItem), _input, items * _inputBytesPerItem);
                upload += clock.Elapsed.TotalMilliseconds;

                clock.Restart();
                _session.RunWithBinding(_runOptions, _binding);
                inference += clock.Elapsed.TotalMilliseconds;

                clock.Restart();
                foreach (var o in _outputs)
                    _memory.CopyOut(o.Tensor, o.Staging + (nint)(first * o.FloatsPerItem * sizeof(float)), items * o.FloatsPerItem * sizeof(float));
                download += clock.Elapsed.TotalMilliseconds;
            }
        }
        catch (OnnxRuntimeException e) when (GpuOutOfMemory.Matches(e))
        {
            throw GpuOutOfMemory.Error(MaxBatch, e);
        }
        return new EngineTimings(upload, inference, download);
    }

    /// <summary>Copies one whole graph batch of input values straight into the bound input (for <see cref="RunAsBound"/>).</summary>
    public unsafe void LoadInput<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        long bytes = (long)values.Length * sizeof(T);
        if (bytes != _graphBatch * _inputBytesPerItem)
            throw new ArgumentException($"the bound input takes {_graphBatch * _inputBytesPerItem} bytes, not {bytes}", nameof(values));
        fixed (T* data = values)
        {
            nint pointer = (nint)data;
            _thread.Invoke(() => _memory.CopyIn(pointer, _input, bytes));
        }
    }

    /// <summary><paramref name="runs"/> runs on whatever the bound buffers hold: no copies, nothing decoded (ONNX
    /// Runtime's own time), one after the other on the engine's thread.</summary>
    public void RunAsBound(int runs)
    {
        try
        {
            _thread.Invoke(() =>
            {
                for (int i = 0; i < runs; i++) _session.RunWithBinding(_runOptions, _binding);
            });
        }
        catch (OnnxRuntimeException e) when (GpuOutOfMemory.Matches(e))
        {
            throw GpuOutOfMemory.Error(MaxBatch, e);
        }
    }

    /// <summary>Output shapes as the graph declares them, the batch filled in; null when another dimension is open.</summary>
    public static int[][]? StaticOutputShapes(IReadOnlyDictionary<string, NodeMetadata> outputs, IReadOnlyList<string> names, int graphBatch)
    {
        var shapes = names.Select(n => outputs[n].Dimensions.Select((d, i) => i == 0 && d <= 0 ? graphBatch : d).ToArray()).ToArray();
        return shapes.All(s => s.All(d => d > 0)) ? shapes : null;
    }

    /// <summary>Fixed buffers of the outputs' shapes, bound for good (CUDA graphs replay against fixed addresses).
    /// Where the graph leaves a dimension open, one run with outputs on the session's allocator tells the shapes
    /// first; such a run must not be captured, so the loader turns CUDA graphs off for those graphs.</summary>
    private BoundOutput[] BindOutputs(IReadOnlyList<string> outputNames)
    {
        var shapes = StaticOutputShapes(_session.OutputMetadata, outputNames, _graphBatch);
        if (shapes is null)
        {
            foreach (var name in outputNames) _binding.BindOutputToDevice(name, _memory.Info);
            _session.RunWithBinding(_runOptions, _binding);
            using (var values = _binding.GetOutputValues())
                shapes = values.Select(v => v.GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray()).ToArray();
            _binding.ClearBoundOutputs();
        }

        var outputs = new BoundOutput[outputNames.Count];
        for (int o = 0; o < outputs.Length; o++)
        {
            var shape = shapes[o];
            if (shape.Length == 0 || shape[0] != _graphBatch)
                throw new InvalidModelException($"output '{outputNames[o]}' has shape [{string.Join(",", shape)}]; expected the batch ({_graphBatch}) first");
            long floatsPerItem = shape.Skip(1).Aggregate(1L, (a, d) => a * d);
            long bytes = _graphBatch * floatsPerItem * sizeof(float);
            nint tensor = _memory.AllocateTensor(bytes);
            nint staging = _memory.IsHost && _graphBatch == MaxBatch ? tensor : _memory.AllocateStaging(MaxBatch * floatsPerItem * sizeof(float));
            _binding.BindOutput(outputNames[o], Track(OrtValue.CreateTensorValueWithData(_memory.Info, TensorElementType.Float,
                shape.Select(d => (long)d).ToArray(), tensor, bytes)));
            outputs[o] = new BoundOutput(outputNames[o], shape, floatsPerItem, tensor, staging);
        }
        return outputs;
    }

    private NamedTensor[] SlotOutputs(int slot, int batchSize)
    {
        if (_slotOutputs[slot] is { } last && last[0].Shape[0] == batchSize) return last;
        return _slotOutputs[slot] = _outputs.Select(o => new NamedTensor(o.Name,
            GC.AllocateUninitializedArray<float>(checked((int)(batchSize * o.FloatsPerItem))), [batchSize, .. o.Shape.Skip(1)])).ToArray();
    }

    private OrtValue Track(OrtValue value)
    {
        _values.Add(value);
        return value;
    }

    public void Dispose()
    {
        _thread.Dispose();
        _binding.Dispose();
        foreach (var value in _values) value.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
        _memory.Dispose();
    }
}

/// <summary>The input an <see cref="OrtBoundEngine"/> binds: graph input name, element type and the shape of one item.</summary>
public sealed record BoundInput(string Name, TensorElementType Type, long[] ItemShape, long BytesPerItem)
{
    /// <summary>The <see cref="PixelInputGraph"/>'s letterboxed 8-bit BGR canvas, [H, W, 3] per item.</summary>
    public static BoundInput Pixels(InputSpec spec) =>
        new(PixelInputGraph.InputName, TensorElementType.UInt8, [spec.Height, spec.Width, 3], 3L * spec.Width * spec.Height);

    /// <summary>The graph's own normalised float input in its layout.</summary>
    public static BoundInput Floats(InputSpec spec) => new(spec.TensorName, TensorElementType.Float,
        spec.Layout == TensorLayout.Nchw ? [3, spec.Height, spec.Width] : [spec.Height, spec.Width, 3], 3L * spec.Width * spec.Height * sizeof(float));
}
